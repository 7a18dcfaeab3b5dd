import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Sandbox } from "@burrow/sdk";
import { describe, expect, it } from "vitest";
import { cleanupRunsc, runscContainers, startTestServer, type TestServer } from "./harness.js";
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

/** A shell loop that keeps its count in memory and writes it to a file every 0.2 s; prints its PID. */
const COUNTER = `setsid sh -c 'i=0; while true; do i=$((i+1)); echo $i > $HOME/count; sleep 0.2; done' >/dev/null 2>&1 < /dev/null & echo $!`;

const count = async (sb: Sandbox) => Number((await sh(sb, "cat $HOME/count")).stdout.trim());

describe("upgrade from the previous release", () => {
  it("a sandbox hibernated and one left running by the previous release work under this one", async () => {
    const prevRoot = buildPrevious();
    const dataDir = mkdtempSync("/tmp/bu-");
    let old: TestServer | undefined;
    let server: TestServer | undefined;
    try {
      old = await startTestServer(dataDir, { serverMain: join(prevRoot, "packages", "server", "dist", "main.js") });
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

      server = await startTestServer(dataDir);
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
        const prefix = existsSync(join(dataDir, "network-prefix"))
          ? readFileSync(join(dataDir, "network-prefix"), "utf8").trim()
          : undefined;
        cleanupRunsc(dataDir, { prefix });
        execFileSync("rm", ["-rf", "--", dataDir]);
      }
    }
  }, 600_000);
});
