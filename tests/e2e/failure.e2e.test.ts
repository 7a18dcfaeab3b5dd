import { Sandbox } from "@burrow/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runscContainers, runscState, startTestServer, type TestServer } from "./harness.js";

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

// Failure handling with real runsc: dead sandboxes, server restarts and SIGKILL.
describe("failures and restarts", () => {
  let server: TestServer;
  const opts = () => ({ apiUrl: server.url, apiKey: server.apiKey });

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server?.dispose();
  });

  it("marks a sandbox whose runsc process died as error with the reason, and deletes it", async () => {
    const sandbox = await Sandbox.create(opts());
    const state = runscState(server.dataDir, sandbox.sandboxId);
    expect(state?.status).toBe("running");
    process.kill(state?.pid as number, "SIGKILL");
    const failed = await waitFor(async () => (await sandbox.getInfo()).state === "error", 10_000);
    expect(failed).toBe(true);
    // The reason carries the tail of the agent's own log, written to the host through its run dir.
    expect((await sandbox.getInfo()).error).toMatch(/exited unexpectedly.*agent log: .*serving on tcp/s);
    await expect(sandbox.commands.run("true")).rejects.toThrow(/error/);
    expect(await sandbox.kill()).toBe(true);
    expect(runscState(server.dataDir, sandbox.sandboxId)).toBeNull();
  });

  it("keeps sandboxes running while the server is down and adopts them on restart", async () => {
    const sandbox = await Sandbox.create(opts());
    const bg = await sandbox.commands.run("sleep 1000", { background: true });
    await sandbox.files.write("/home/user/kept.txt", "still here");
    await server.stop("SIGKILL");
    expect(runscState(server.dataDir, sandbox.sandboxId)?.status).toBe("running");
    server = await startTestServer(server.dataDir);
    const again = await Sandbox.connect(sandbox.sandboxId, opts());
    expect((await again.getInfo()).state).toBe("running");
    expect(await again.files.read("/home/user/kept.txt")).toBe("still here");
    expect((await again.commands.list()).map((p) => p.pid)).toContain(bg.pid);
    expect(await again.kill()).toBe(true);
  });

  it("SIGKILL mid-create leaves no orphan: the sandbox is running or a visible error, never lost", async () => {
    const pending = server.request("POST", "/v1/sandboxes", { metadata: { case: "mid-create" } }).catch(() => null);
    await new Promise((r) => setTimeout(r, 60));
    await server.stop("SIGKILL");
    await pending;
    server = await startTestServer(server.dataDir);
    const res = await server.request("GET", `/v1/sandboxes?metadata=${encodeURIComponent("case=mid-create")}`);
    const { sandboxes } = (await res.json()) as { sandboxes: Array<{ id: string; state: string }> };
    // The row is written before runsc is started, so the interrupted create is always visible.
    expect(sandboxes).toHaveLength(1);
    for (const sb of sandboxes) {
      expect(["running", "error"]).toContain(sb.state);
      const state = runscState(server.dataDir, sb.id);
      if (sb.state === "error") expect(state).toBeNull();
      else expect(state?.status).toBe("running");
      expect((await server.request("DELETE", `/v1/sandboxes/${sb.id}`)).status).toBe(204);
    }
    const list = runscContainers(server.dataDir).join("\n");
    expect(list.trim()).toBe("");
  });

  it("SIGKILL mid-checkpoint, then restart: the sandbox keeps its processes and memory", async () => {
    const sandbox = await Sandbox.create({ ...opts(), lifecycle: { standbyAfterMs: 0 } });
    const counter = await sandbox.commands.run("i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.05; done", {
      background: true,
      timeoutMs: 0,
    });
    await counter.disconnect();
    // The counter must have started counting before the checkpoint, or there is nothing to compare.
    const deadline = Date.now() + 10_000;
    while (!(await sandbox.files.exists("/tmp/n")) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    const pending = server.request("POST", `/v1/sandboxes/${sandbox.sandboxId}/hibernate`).catch(() => null);
    await new Promise((r) => setTimeout(r, 40));
    await server.stop("SIGKILL");
    await pending;
    server = await startTestServer(server.dataDir);
    const again = await Sandbox.connect(sandbox.sandboxId, opts());
    expect(["running", "standby", "hibernated"]).toContain((await again.getInfo()).state);
    expect((await again.commands.list()).map((p) => p.pid)).toContain(counter.pid);
    const a = Number((await again.files.read("/tmp/n")).trim());
    await new Promise((r) => setTimeout(r, 300));
    const b = Number((await again.files.read("/tmp/n")).trim());
    expect(b).toBeGreaterThan(a);
    expect(await again.kill()).toBe(true);
  });

  it("SIGKILL mid-restore, then restart: the sandbox wakes with the same processes", async () => {
    const sandbox = await Sandbox.create({ ...opts(), lifecycle: { standbyAfterMs: 0 } });
    const sleeper = await sandbox.commands.run("sleep 1000", { background: true, timeoutMs: 0 });
    await sleeper.disconnect();
    await sandbox.hibernate();
    const pending = server.request("POST", `/v1/sandboxes/${sandbox.sandboxId}/resume`).catch(() => null);
    await new Promise((r) => setTimeout(r, 60));
    await server.stop("SIGKILL");
    await pending;
    server = await startTestServer(server.dataDir);
    const again = await Sandbox.connect(sandbox.sandboxId, opts());
    expect(["running", "hibernated"]).toContain((await again.getInfo()).state);
    expect((await again.commands.list()).map((p) => p.pid)).toContain(sleeper.pid);
    expect((await again.getInfo()).state).toBe("running");
    const runscIds = runscContainers(server.dataDir).join("\n");
    expect(runscIds.trim().split("\n")).toEqual([sandbox.sandboxId]);
    expect(await again.kill()).toBe(true);
  });
});
