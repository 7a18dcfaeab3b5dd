import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GvisorRuntime } from "../src/gvisor-runtime.js";
import { templateRootfs, testRuntime } from "./gvisor-fixture.js";

// The gVisor driver on its own, with real runsc: lifecycle calls, the exec fallback, and cleanup.
describe("GvisorRuntime", () => {
  let dir: string;
  let runtime: GvisorRuntime;
  const id = "sb_runtimetestaaaaaaaaa";
  const networkIndex = 1;

  beforeAll(() => {
    ({ dir, runtime } = testRuntime("brt-", "10.198"));
  });

  afterAll(async () => {
    await runtime.destroy(id, networkIndex).catch(() => undefined);
    await runtime.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("creates a sandbox, runs a command without the agent, lists, freezes and thaws it", async () => {
    await runtime.create({
      id,
      templateLayers: [templateRootfs],
      resources: { vcpus: 1, memoryMb: 512, pids: 256, diskMb: 512 },
      agentToken: "t",
      networkIndex,
    });
    expect((await runtime.status(id)).status).toBe("running");
    const out = await runtime.exec(id, ["sh", "-c", "echo $((6*7)); id -u"], { user: "1000:1000" });
    expect(out).toMatchObject({ exitCode: 0, stdout: "42\n1000\n" });
    expect((await runtime.list()).map((s) => s.id)).toEqual([id]);
    await runtime.pause(id);
    expect((await runtime.status(id)).status).toBe("paused");
    await runtime.resume(id);
    expect((await runtime.status(id)).status).toBe("running");
    expect(await runtime.agentLogTail(id)).toContain("serving on tcp");
  });

  it("destroys everything it made: the container, the mount, the network namespace, the files", async () => {
    await runtime.destroy(id, networkIndex);
    expect((await runtime.status(id)).status).toBe("absent");
    expect(await runtime.list()).toEqual([]);
    expect(readFileSync("/proc/mounts", "utf8")).not.toContain(dir);
    expect(existsSync(join(dir, "sandboxes", id))).toBe(false);
    expect(existsSync(`/var/run/netns/burrow-${id}`)).toBe(false);
    await runtime.destroy(id, networkIndex);
  });
});
