import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Sandbox } from "@burrow/sdk";
import { describe, expect, it } from "vitest";
import {
  cleanupRunsc,
  prefixCandidates,
  prefixLocked,
  runscContainers,
  startTestServer,
  type TestServer,
  templatesDir,
} from "./harness.js";
import { sh } from "./sandbox-shell.js";

/** The previous landed release: sandboxes it hibernated or left running must work under this one. */
const PREVIOUS = "ef7f843";
const repoRoot = join(import.meta.dirname, "..", "..");

/** Builds the previous release once per commit under /tmp (TypeScript and the Go agent) and returns its root. */
function buildPrevious(): string {
  const root = `/tmp/burrow-prev-${PREVIOUS}`;
  if (existsSync(join(root, ".built"))) return root;
  const tmp = `${root}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  execFileSync("mkdir", ["-p", tmp]);
  execFileSync("sh", ["-c", `git -C "$1" archive ${PREVIOUS} | tar -x -C "$2"`, "sh", repoRoot, tmp]);
  // Workspace links in node_modules are relative, so they resolve to the copy's own packages.
  execFileSync("cp", ["-a", join(repoRoot, "node_modules"), tmp]);
  execFileSync("npx", ["tsc", "-b"], { cwd: tmp, stdio: "inherit" });
  execFileSync("bash", ["packages/agent/build.sh"], { cwd: tmp, stdio: "inherit" });
  execFileSync("touch", [join(tmp, ".built")]);
  rmSync(root, { recursive: true, force: true });
  renameSync(tmp, root);
  return root;
}

interface OldServer {
  url: string;
  apiKey: string;
  prefix: string;
  process: ChildProcess;
  request(method: string, path: string, body?: unknown): Promise<Response>;
  stop(): Promise<void>;
}

/** Starts the previous release's server on a data dir with a free test prefix. */
async function startOldServer(prevRoot: string, dataDir: string): Promise<OldServer> {
  const prefix = prefixCandidates(dataDir).find((p) => !prefixLocked(p));
  if (prefix === undefined) throw new Error("no free network prefix");
  const child = spawn(process.execPath, [join(prevRoot, "packages", "server", "dist", "main.js")], {
    env: {
      ...process.env,
      BURROW_DATA_DIR: dataDir,
      BURROW_TEMPLATES_DIR: templatesDir,
      BURROW_PORT: "0",
      BURROW_LOG_LEVEL: "warn",
      BURROW_WARM_POOL: "",
      BURROW_NETWORK_PREFIX: prefix,
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
    const timer = setTimeout(() => reject(new Error(`old server did not start:\n${out}`)), 30_000);
    child.stdout?.on("data", () => {
      const m = /Burrow listening on (http:\/\/\S+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`old server exited with ${code}:\n${out}`));
    });
  });
  const apiKey = readFileSync(join(dataDir, "admin-key"), "utf8").trim();
  return {
    url,
    apiKey,
    prefix,
    process: child,
    request: (method, path, body) =>
      fetch(`${url}${path}`, {
        method,
        headers: {
          Authorization: `Bearer ${apiKey}`,
          ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** A shell loop that keeps its count in memory and writes it to a file every 0.2 s; prints its PID. */
const COUNTER = `setsid sh -c 'i=0; while true; do i=$((i+1)); echo $i > $HOME/count; sleep 0.2; done' >/dev/null 2>&1 < /dev/null & echo $!`;

const count = async (sb: Sandbox) => Number((await sh(sb, "cat $HOME/count")).stdout.trim());

describe("upgrade from the previous release", () => {
  it("a sandbox hibernated and one left running by the previous release work under this one", async () => {
    const prevRoot = buildPrevious();
    const dataDir = mkdtempSync("/tmp/bu-");
    let old: OldServer | undefined;
    let server: TestServer | undefined;
    try {
      old = await startOldServer(prevRoot, dataDir);
      const oldOpts = { apiUrl: old.url, apiKey: old.apiKey };
      const sleeper = await Sandbox.create(oldOpts);
      const runner = await Sandbox.create(oldOpts);
      const pids: Record<string, string> = {};
      for (const sb of [sleeper, runner]) {
        pids[sb.sandboxId] = (await sh(sb, COUNTER)).stdout.trim();
        expect(pids[sb.sandboxId]).toMatch(/^\d+$/);
        await sh(sb, "echo kept > $HOME/kept.txt");
        // The loop has counted past its start.
        while ((await count(sb)) < 3) await new Promise((r) => setTimeout(r, 100));
      }
      const res = await old.request("POST", `/v1/sandboxes/${sleeper.sandboxId}/hibernate`);
      expect(res.status).toBeLessThan(300);
      const before = (await (await old.request("GET", `/v1/sandboxes/${sleeper.sandboxId}`)).json()) as {
        state?: string;
        status?: string;
      };
      expect(before.state ?? before.status).toMatch(/hibernat/);
      await old.stop();

      server = await startTestServer(dataDir, { env: { BURROW_NETWORK_PREFIX: old.prefix } });
      const newOpts = { apiUrl: server.url, apiKey: server.apiKey };
      for (const id of [sleeper.sandboxId, runner.sandboxId]) {
        const sb = await Sandbox.connect(id, newOpts);
        const first = await count(sb);
        // The same process, with its in-memory count, goes on counting.
        expect((await sh(sb, `kill -0 ${pids[id]} && echo alive`)).stdout).toBe("alive\n");
        while ((await count(sb)) <= first) await new Promise((r) => setTimeout(r, 100));
        expect(await count(sb)).toBeGreaterThan(3);
        expect((await sh(sb, "cat $HOME/kept.txt")).stdout).toBe("kept\n");
        expect((await sh(sb, "echo new; id -u")).exitCode).toBe(0);
        expect(await sb.kill()).toBe(true);
      }
      expect(runscContainers(dataDir)).toEqual([]);
      await server.dispose();
      server = undefined;
    } finally {
      await old?.stop();
      if (server !== undefined) await server.dispose();
      else {
        cleanupRunsc(dataDir, { prefix: old?.prefix });
        execFileSync("rm", ["-rf", "--", dataDir]);
      }
    }
  }, 600_000);
});
