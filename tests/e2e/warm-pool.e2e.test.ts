import { Sandbox } from "@burrow/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runscContainers, startTestServer, type TestServer, waitForPool } from "./harness.js";

// A warm pool of pre-started gVisor sandboxes: create hands one out with the caller's settings.
describe("warm pool", () => {
  let server: TestServer;
  const opts = () => ({ apiUrl: server.url, apiKey: server.apiKey });

  beforeAll(async () => {
    server = await startTestServer(undefined, { env: { BURROW_WARM_POOL: "base=2" } });
  });

  afterAll(async () => {
    await server?.dispose();
  });

  it("hands out a running sandbox with the caller's env and metadata, then refills", async () => {
    await waitForPool(server, 2);
    const sandbox = await Sandbox.create({ ...opts(), envs: { FROM_POOL: "yes" }, metadata: { case: "pool" } });
    const events = (await sandbox.events()).map((e) => e.type);
    expect(events).toContain("claimed");
    expect((await sandbox.commands.run("echo $FROM_POOL")).stdout).toBe("yes\n");
    const listed = await Sandbox.list({ ...opts(), metadata: { case: "pool" } });
    expect(listed.map((s) => s.id)).toEqual([sandbox.sandboxId]);
    await waitForPool(server, 2);
    expect(await sandbox.kill()).toBe(true);
  });

  it("does not list pool sandboxes, and a graceful stop removes them", async () => {
    expect(await Sandbox.list(opts())).toEqual([]);
    await server.stop("SIGTERM");
    const left = runscContainers(server.dataDir).join("\n");
    expect(left.trim()).toBe("");
  });
});
