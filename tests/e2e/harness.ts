import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

const repoRoot = join(import.meta.dirname, "..", "..");
export const serverMain = join(repoRoot, "packages", "server", "dist", "main.js");
export const cliMain = join(repoRoot, "packages", "cli", "dist", "main.js");

/** The shared template directory built by `npm test`'s setup step. */
export const templatesDir = process.env.BURROW_TEMPLATES_DIR ?? join(homedir(), ".burrow", "templates");

export interface TestServer {
  url: string;
  apiKey: string;
  dataDir: string;
  process: ChildProcess;
  output: () => string;
  /** Env for SDK/CLI child processes pointing at this server. */
  clientEnv: Record<string, string>;
  request(method: string, path: string, body?: unknown): Promise<Response>;
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the server again on the same data dir (after stop). */
  restart(): Promise<TestServer>;
  /** Deletes every sandbox, stops the server, checks nothing is left behind, removes the data dir. */
  dispose(): Promise<void>;
}

/**
 * Starts the real server (built dist) on a free port with its own data dir, sharing the
 * template directory. Short /tmp paths keep agent socket paths under the 108-byte limit.
 */
export interface NodeRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a Node script (the CLI, an example) to completion with extra env and optional stdin. */
export function runNode(args: string[], env: Record<string, string>, input = ""): Promise<NodeRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input);
  });
}

export interface TestServerOptions {
  /** Extra environment for the server (e.g. BURROW_WARM_POOL, BURROW_LIFECYCLE_TICK_MS). */
  env?: Record<string, string>;
}

export async function startTestServer(dataDir?: string, options: TestServerOptions = {}): Promise<TestServer> {
  if (!existsSync(serverMain)) throw new Error(`${serverMain} missing: run 'npm test' (it builds first)`);
  const dir = dataDir ?? mkdtempSync("/tmp/bt-");
  const child = spawn(process.execPath, [serverMain], {
    env: {
      ...process.env,
      BURROW_DATA_DIR: dir,
      BURROW_TEMPLATES_DIR: templatesDir,
      BURROW_PORT: "0",
      BURROW_LOG_LEVEL: process.env.BURROW_TEST_LOG_LEVEL ?? "warn",
      BURROW_MONITOR_INTERVAL_MS: "1000",
      // No warm pool unless a suite asks for one: each suite's sandboxes are its own.
      BURROW_WARM_POOL: "",
      // Each test server gets its own /16 so servers never share addresses on this host.
      BURROW_NETWORK_PREFIX: networkPrefixFor(dir),
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (c: Buffer) => {
    out += c.toString();
  });
  child.stderr?.on("data", (c: Buffer) => {
    out += c.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 30 s:\n${out}`)), 30_000);
    const onData = () => {
      const m = /Burrow listening on (http:\/\/\S+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${out}`));
    });
  });
  const apiKey = readFileSync(join(dir, "admin-key"), "utf8").trim();
  const server: TestServer = {
    url,
    apiKey,
    dataDir: dir,
    process: child,
    output: () => out,
    clientEnv: { BURROW_API_URL: url, BURROW_API_KEY: apiKey, BURROW_DATA_DIR: dir },
    request: (method, path, body) =>
      fetch(`${url}${path}`, {
        method,
        headers: {
          Authorization: `Bearer ${apiKey}`,
          ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    async stop(signal = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill(signal);
      await exited;
    },
    async restart() {
      await server.stop();
      return startTestServer(dir, options);
    },
    async dispose() {
      try {
        if (child.exitCode === null && child.signalCode === null) {
          const res = await server.request("GET", "/v1/sandboxes");
          const { sandboxes } = (await res.json()) as { sandboxes: Array<{ id: string }> };
          for (const sb of sandboxes) await server.request("DELETE", `/v1/sandboxes/${sb.id}`);
        }
      } finally {
        await server.stop();
        cleanupRunsc(dir);
        // GNU rm: a data dir can hold trees deeper than Node's recursive rm handles (snapshots of forks).
        execFileSync("rm", ["-rf", "--", dir]);
      }
    },
  };
  return server;
}

/** A /16 per data dir (stable across restarts of the same server), away from the default 10.200. */
function networkPrefixFor(dataDir: string): string {
  let hash = 0;
  for (const ch of dataDir) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return `10.${201 + (hash % 50)}`;
}

/** runsc keeps one state root per sandbox under `<data>/runsc/<id>`. */
export function runscRoots(dataDir: string): string[] {
  const base = join(dataDir, "runsc");
  return existsSync(base) ? readdirSync(base).map((id) => join(base, id)) : [];
}

/** Ids of containers runsc still knows about under a data dir (frozen ones are thawed first). */
export function runscContainers(dataDir: string): string[] {
  const ids: string[] = [];
  for (const root of runscRoots(dataDir)) {
    const id = root.split("/").at(-1) as string;
    const freezer = `/sys/fs/cgroup/freezer/burrow/${id}/freezer.state`;
    if (existsSync(freezer)) writeFileSync(freezer, "THAWED");
    const list = execFileSync("timeout", ["20", "runsc", `--root=${root}`, "list", "--quiet"], { encoding: "utf8" });
    ids.push(...list.split("\n").filter(Boolean));
  }
  return ids;
}

/** `runsc state` of one sandbox, or null when runsc does not know it. */
export function runscState(dataDir: string, id: string): { status: string; pid: number } | null {
  try {
    const out = execFileSync("timeout", ["10", "runsc", `--root=${join(dataDir, "runsc", id)}`, "state", id], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    return JSON.parse(out) as { status: string; pid: number };
  } catch {
    return null;
  }
}

/** Removes any runsc container, overlay mount and network namespace left under a test data dir. */
export function cleanupRunsc(dataDir: string): string[] {
  const leftovers: string[] = [];
  for (const id of runscContainers(dataDir)) {
    leftovers.push(id);
    execFileSync("timeout", ["20", "runsc", `--root=${join(dataDir, "runsc", id)}`, "delete", "--force", id], {
      stdio: "ignore",
    });
  }
  const mounts = readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[1] ?? "")
    .filter((m) => m.startsWith(`${dataDir}/`));
  for (const m of mounts) {
    leftovers.push(m);
    execFileSync("umount", ["-l", m]);
  }
  const sandboxesDir = join(dataDir, "sandboxes");
  const known = existsSync(sandboxesDir) ? readdirSync(sandboxesDir) : [];
  const namespaces = execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((n) => known.some((id) => n === `burrow-${id}`));
  for (const ns of namespaces) {
    leftovers.push(ns);
    execFileSync("ip", ["netns", "del", ns]);
  }
  return leftovers;
}
