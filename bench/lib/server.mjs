import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dirname, "..", "..");

/**
 * Starts the built Burrow server on a free port with a fresh data dir. `env` overrides the
 * server's environment (BURROW_WARM_POOL, BURROW_NETWORK_PREFIX, …). Defaults: no warm pool
 * (so cold numbers are cold) and the /16 10.251, away from the default 10.200 and the e2e tests'
 * 10.201–10.250; suites pass their own prefix so their servers never share addresses.
 */
export async function startServer(env = {}) {
  const dataDir = mkdtempSync("/tmp/bb-");
  const child = spawn(
    process.execPath,
    [
      ...(process.env.BENCH_SERVER_NODE_ARGS?.split(" ").filter(Boolean) ?? []),
      join(root, "packages/server/dist/main.js"),
    ],
    {
      env: {
        ...process.env,
        BURROW_DATA_DIR: dataDir,
        BURROW_TEMPLATES_DIR: process.env.BURROW_TEMPLATES_DIR ?? join(homedir(), ".burrow", "templates"),
        BURROW_PORT: "0",
        BURROW_LOG_LEVEL: "warn",
        BURROW_WARM_POOL: "",
        BURROW_NETWORK_PREFIX: "10.251",
        ...env,
      },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  let out = "";
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 30 s: ${out}`)), 30_000);
    child.stdout.on("data", (c) => {
      out += c;
      const m = /Burrow listening on (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited ${code}`));
    });
  });
  child.stdout.resume();
  const apiKey = readFileSync(join(dataDir, "admin-key"), "utf8").trim();
  const headers = { Authorization: `Bearer ${apiKey}`, "Content-Type": "application/json" };
  const server = {
    url,
    apiKey,
    dataDir,
    pid: child.pid,
    /** REST call; resolves { status, body } (body parsed as JSON when possible). */
    async api(method, path, json) {
      const res = await fetch(`${url}${path}`, {
        method,
        headers,
        body: json === undefined ? undefined : JSON.stringify(json),
        signal: AbortSignal.timeout(120_000),
      });
      const text = await res.text();
      let body = text;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {}
      return { status: res.status, body };
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      await exited;
      clearTimeout(timer);
    },
    /**
     * Deletes every sandbox through the API (`parallel` at a time), stops the server, then makes
     * sure runsc, the mounts and the namespaces under its data dir are gone. Returns leftovers found.
     */
    async dispose(ids = [], parallel = 2) {
      const leftovers = [];
      try {
        if (child.exitCode === null) {
          const listed = await server.api("GET", "/v1/sandboxes").catch(() => ({ body: { sandboxes: [] } }));
          const all = new Set([...ids, ...(listed.body?.sandboxes ?? []).map((s) => s.id)]);
          await pool([...all], parallel, (id) => server.api("DELETE", `/v1/sandboxes/${id}`).catch(() => undefined));
        }
      } finally {
        await server.stop();
        leftovers.push(...cleanupDataDir(dataDir, ids));
        rmSync(dataDir, { recursive: true, force: true });
      }
      return leftovers;
    },
  };
  return server;
}

/** Runs fn over items with at most `parallel` in flight. */
export async function pool(items, parallel, fn) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, items.length) }, worker));
  return results;
}

/** Force-removes runsc containers, mounts and `burrow-<id>` namespaces left under a data dir. */
export function cleanupDataDir(dataDir, ids = []) {
  const leftovers = [];
  // runsc state: one root per sandbox (<data>/runsc/<id>), older servers one shared root.
  const stateDir = join(dataDir, "runsc");
  const roots = existsSync(stateDir)
    ? [
        stateDir,
        ...readdirSync(stateDir, { withFileTypes: true })
          .filter((d) => d.isDirectory())
          .map((d) => join(stateDir, d.name)),
      ]
    : [];
  for (const rootDir of roots) {
    let list = "[]";
    try {
      list = execFileSync("timeout", ["30", "runsc", `--root=${rootDir}`, "list", "--format=json"], {
        encoding: "utf8",
      });
    } catch {}
    for (const c of JSON.parse(list || "[]") ?? []) {
      leftovers.push(`runsc:${c.id}`);
      try {
        writeFreezer(c.id, "THAWED");
        execFileSync("timeout", ["30", "runsc", `--root=${rootDir}`, "delete", "--force", c.id], { stdio: "ignore" });
      } catch {}
    }
  }
  const mounts = readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[1] ?? "")
    .filter((m) => m.startsWith(`${dataDir}/`));
  for (const m of mounts) {
    leftovers.push(`mount:${m}`);
    execFileSync("timeout", ["10", "umount", "-l", m]);
  }
  const sandboxesDir = join(dataDir, "sandboxes");
  const known = new Set(ids);
  if (existsSync(sandboxesDir)) for (const id of readdirSync(sandboxesDir)) known.add(id);
  const namespaces = execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
    .split("\n")
    .map((l) => l.split(" ")[0]);
  for (const id of known) {
    if (namespaces.includes(`burrow-${id}`)) {
      leftovers.push(`netns:burrow-${id}`);
      try {
        execFileSync("ip", ["link", "del", `bw${id.slice(3, 16)}`], { stdio: "ignore" });
      } catch {}
      try {
        execFileSync("ip", ["netns", "del", `burrow-${id}`], { stdio: "ignore" });
      } catch {}
    }
  }
  return leftovers;
}

function writeFreezer(id, state) {
  try {
    execFileSync("sh", ["-c", `echo ${state} > /sys/fs/cgroup/freezer/burrow/${id}/freezer.state`], {
      stdio: "ignore",
    });
  } catch {}
}
