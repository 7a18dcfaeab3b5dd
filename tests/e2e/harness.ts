import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { prefixLockPath } from "@burrow/runtime";

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
  /** The HTTPS listener (sandbox hosts over TLS), with the preview CA's certificate file. */
  https?: { url: string; caPath?: string };
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
  /** Start the server as the leader of a process group of its own (to signal the whole group). */
  ownProcessGroup?: boolean;
  /** The server to run (default: this checkout's dist); the upgrade test runs an older release's. */
  serverMain?: string;
}

/** The server refused the prefix because another live server holds its lock. */
class PrefixTaken extends Error {}

/**
 * Starts a server on a data dir. Without a BURROW_NETWORK_PREFIX of the caller's (or one stored in
 * the data dir), it takes a free prefix: candidates whose lock another server holds are skipped,
 * and when a server started meanwhile wins the race for one, the next is tried.
 */
export async function startTestServer(dataDir?: string, options: TestServerOptions = {}): Promise<TestServer> {
  if (!existsSync(serverMain)) throw new Error(`${serverMain} missing: run 'npm test' (it builds first)`);
  const dir = dataDir ?? mkdtempSync("/tmp/bt-");
  const fixed = storedPrefix(dir) ?? options.env?.BURROW_NETWORK_PREFIX;
  if (fixed !== undefined) return launchTestServer(dir, fixed, options);
  for (const prefix of prefixCandidates(dir)) {
    if (prefixLocked(prefix)) continue;
    try {
      return await launchTestServer(dir, prefix, options);
    } catch (err) {
      if (!(err instanceof PrefixTaken)) throw err;
    }
  }
  throw new Error("no free network prefix for a test server");
}

async function launchTestServer(dir: string, prefix: string, options: TestServerOptions): Promise<TestServer> {
  const child = spawn(process.execPath, [options.serverMain ?? serverMain], {
    env: {
      ...process.env,
      BURROW_DATA_DIR: dir,
      BURROW_TEMPLATES_DIR: templatesDir,
      BURROW_PORT: "0",
      BURROW_LOG_LEVEL: process.env.BURROW_TEST_LOG_LEVEL ?? "warn",
      BURROW_MONITOR_INTERVAL_MS: "1000",
      // No warm pool unless a suite asks for one: each suite's sandboxes are its own.
      BURROW_WARM_POOL: "",
      ...options.env,
      // Each test server gets its own /16 so servers never share addresses on this host.
      BURROW_NETWORK_PREFIX: prefix,
    },
    stdio: ["ignore", "pipe", "pipe"],
    detached: options.ownProcessGroup === true,
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
      if (/is in use by another Burrow server/.test(out)) reject(new PrefixTaken(out));
      else reject(new Error(`server exited with ${code} before listening:\n${out}`));
    });
  });
  const apiKey = readFileSync(join(dir, "admin-key"), "utf8").trim();
  const https = /Burrow HTTPS on (https:\/\/\S+) \(.*?(?:preview CA (\S+))?\)\n/.exec(out);
  const serverPrefix = serverEnv(child.pid)?.BURROW_NETWORK_PREFIX;
  const server: TestServer = {
    url,
    apiKey,
    dataDir: dir,
    process: child,
    output: () => out,
    ...(https?.[1] ? { https: { url: https[1], ...(https[2] ? { caPath: https[2] } : {}) } } : {}),
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
      // Every sandbox this server had that the host may still hold: the ones on disk and in runsc
      // now, and the ones the API lists (added before they are deleted).
      const ids = new Set([...sandboxDirIds(dir), ...runscRoots(dir).map((root) => root.split("/").at(-1) as string)]);
      let leftovers: string[] = [];
      try {
        if (child.exitCode === null && child.signalCode === null) {
          const res = await server.request("GET", "/v1/sandboxes");
          const { sandboxes } = (await res.json()) as { sandboxes: Array<{ id: string }> };
          for (const sb of sandboxes) ids.add(sb.id);
          for (const sb of sandboxes) await server.request("DELETE", `/v1/sandboxes/${sb.id}`);
        }
      } finally {
        await server.stop();
        leftovers = cleanupRunsc(dir, { ids, prefix: serverPrefix });
        // GNU rm: a data dir can hold trees deeper than Node's recursive rm handles (snapshots of forks).
        execFileSync("rm", ["-rf", "--", dir]);
      }
      if (leftovers.length > 0) {
        throw new Error(`left behind after deleting every sandbox and stopping the server: ${leftovers.join(", ")}`);
      }
    },
  };
  return server;
}

/** Test servers take /16s from 10.120–10.189, away from the default 10.200 and other hosts' use. */
const FIRST_TEST_PREFIX = 120;
const TEST_PREFIXES = 70;

/** Every test prefix, starting at one picked by the data dir's name (so concurrent runs spread out). */
export function prefixCandidates(dataDir: string): string[] {
  let hash = 0;
  for (const ch of dataDir) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return Array.from({ length: TEST_PREFIXES }, (_, i) => `10.${FIRST_TEST_PREFIX + ((hash + i) % TEST_PREFIXES)}`);
}

/** The prefix a data dir was first started with (a restart keeps it). */
function storedPrefix(dataDir: string): string | undefined {
  const path = join(dataDir, "network-prefix");
  return existsSync(path) ? readFileSync(path, "utf8").trim() : undefined;
}

/** Whether a live server holds the prefix's lock (the server's own check, made without taking it). */
export function prefixLocked(prefix: string): boolean {
  const path = prefixLockPath(prefix);
  if (!existsSync(path)) return false;
  try {
    execFileSync("flock", ["--nonblock", path, "true"], { stdio: "ignore" });
    return false;
  } catch {
    return true;
  }
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

/** Sandbox ids with a directory under a data dir. */
function sandboxDirIds(dataDir: string): string[] {
  const dir = join(dataDir, "sandboxes");
  return existsSync(dir) ? readdirSync(dir) : [];
}

/** The environment a running process was started with (read from /proc), or undefined. */
function serverEnv(pid: number | undefined): Record<string, string> | undefined {
  if (pid === undefined) return undefined;
  try {
    const pairs = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").filter(Boolean);
    return Object.fromEntries(pairs.map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)]));
  } catch {
    return undefined;
  }
}

/** What else identifies a server's host state besides its data dir. */
export interface CleanupScope {
  /** Sandbox ids whose network namespace (`burrow-<id>`) is this server's. */
  ids?: Iterable<string>;
  /** The server's network prefix: host veths (`bw…`) with an address in it are this server's. */
  prefix?: string;
}

/**
 * Removes any runsc container, overlay mount, network namespace and host veth left under a test
 * data dir (or in its scope), and returns what it removed.
 */
export function cleanupRunsc(dataDir: string, scope: CleanupScope = {}): string[] {
  const leftovers: string[] = [];
  for (const id of runscContainers(dataDir)) {
    leftovers.push(`runsc container ${id}`);
    execFileSync("timeout", ["20", "runsc", `--root=${join(dataDir, "runsc", id)}`, "delete", "--force", id], {
      stdio: "ignore",
    });
  }
  const mounts = readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[1] ?? "")
    .filter((m) => m.startsWith(`${dataDir}/`))
    // Innermost first, so a mount on top of another is removed before the one below it.
    .reverse();
  for (const m of mounts) {
    leftovers.push(`mount ${m}`);
    execFileSync("umount", ["-l", m]);
  }
  // Loop devices of volumes (ext4 images under the data dir) that no mount or sandbox holds any more.
  const loops = execFileSync("losetup", ["--list", "--noheadings", "--raw", "-O", "NAME,BACK-FILE"], {
    encoding: "utf8",
  })
    .split("\n")
    .map((l) => l.split(" "))
    .filter(([, file]) => (file ?? "").startsWith(`${dataDir}/`));
  for (const [dev, file] of loops) {
    leftovers.push(`loop device ${dev} (${file})`);
    execFileSync("losetup", ["-d", dev as string], { stdio: "ignore" });
  }
  const known = new Set([...sandboxDirIds(dataDir), ...(scope.ids ?? [])].map((id) => `burrow-${id}`));
  const namespaces = execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((n) => known.has(n));
  for (const ns of namespaces) {
    leftovers.push(`netns ${ns}`);
    execFileSync("ip", ["netns", "del", ns]);
  }
  if (scope.prefix !== undefined) {
    // `ip -o` prints one line per address: "<index>: <name> inet <address>/<bits> …".
    const veths = execFileSync("ip", ["-4", "-o", "addr", "show"], { encoding: "utf8" })
      .split("\n")
      .map((l) => l.split(/\s+/))
      .filter((f) => f[1]?.startsWith("bw") && f[3]?.startsWith(`${scope.prefix}.`))
      .map((f) => (f[1] as string).split("@")[0] as string);
    for (const veth of new Set(veths)) {
      leftovers.push(`veth ${veth}`);
      try {
        execFileSync("ip", ["link", "del", veth], { stdio: "ignore" });
      } catch {
        // Gone with its namespace meanwhile.
      }
    }
  }
  return leftovers;
}

/** Waits until the server's warm pool for `base` holds `ready` sandboxes (60 s at most). */
export async function waitForPool(server: TestServer, ready: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const health = (await (await fetch(`${server.url}/v1/health`)).json()) as {
      warmPool: Record<string, { ready: number }>;
    };
    if ((health.warmPool.base?.ready ?? 0) >= ready) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`warm pool did not reach ${ready}`);
}
