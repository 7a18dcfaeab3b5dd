import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Sandbox } from "@burrow/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";

const NO_AUTO_SLEEP = { standbyAfterMs: 0, hibernateAfterMs: 0 };

// Issue 11, item 9: a sandbox over its memory or process limit loses a process, not itself.
describe("memory and process limits with real gVisor", () => {
  let server: TestServer;
  const opts = () => ({ apiUrl: server.url, apiKey: server.apiKey, lifecycle: NO_AUTO_SLEEP });
  const agentLog = (id: string) => readFileSync(join(server.dataDir, "sandboxes", id, "run", "agent.log"), "utf8");

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server?.dispose();
  });

  it("a process allocating past the memory limit is killed inside; the sandbox stays running", async () => {
    const sandbox = await Sandbox.create({ ...opts(), resources: { memoryMb: 256 } });
    await sandbox.files.write("/home/user/keep.txt", "kept\n");
    const hog = await sandbox.commands
      .run("python3 -c 'b = bytearray(400 * 1024 * 1024); print(len(b))'", { timeoutMs: 60_000 })
      .then(
        () => null,
        (err: unknown) => err as Error & { result?: { exitCode: number; error?: string } },
      );
    expect(hog?.result?.error).toMatch(/killed/);
    expect(agentLog(sandbox.sandboxId)).toMatch(/out of memory: killed process \d+ \(python3\)/);
    expect((await sandbox.getInfo()).state).toBe("running");
    expect((await sandbox.commands.run("cat /home/user/keep.txt")).stdout).toBe("kept\n");
    await sandbox.kill();
  });

  it("a fork bomb is held at the pids limit; the sandbox answers during and after it", async () => {
    const pids = 64;
    const sandbox = await Sandbox.create({ ...opts(), resources: { pids } });
    await sandbox.commands.run("(bomb() { bomb | bomb & }; bomb) >/dev/null 2>&1 </dev/null & sleep 3; echo started", {
      user: "user",
      timeoutMs: 60_000,
    });
    // The bomb runs as `user`; root (another user inside) still gets processes.
    const during = await sandbox.commands.run("ps -u user --no-headers | wc -l", { user: "root" });
    expect(Number(during.stdout.trim())).toBeGreaterThan(pids / 2);
    expect(Number(during.stdout.trim())).toBeLessThanOrEqual(pids);
    expect((await sandbox.getInfo()).state).toBe("running");
    await sandbox.commands.run(
      // Stopped first, so the bomb cannot refill the slots its killed processes free.
      "for i in $(seq 200); do pkill -STOP -u user; pkill -9 -u user; pgrep -u user >/dev/null || exit 0; done; exit 1",
      { user: "root", timeoutMs: 120_000 },
    );
    expect((await sandbox.commands.run("echo alive", { user: "user" })).stdout).toBe("alive\n");
    expect((await sandbox.getInfo()).state).toBe("running");
    await sandbox.kill();
  }, 240_000);

  it("the smallest pids value the API accepts (16) creates a sandbox that runs ps", async () => {
    const sandbox = await Sandbox.create({ ...opts(), resources: { pids: 16 } });
    for (const user of ["user", "root"]) {
      const ps = await sandbox.commands.run("ps aux", { user });
      expect(ps.stdout).toMatch(/burrow-agent/);
    }
    expect((await sandbox.getInfo()).state).toBe("running");
    await sandbox.kill();
  });
});
