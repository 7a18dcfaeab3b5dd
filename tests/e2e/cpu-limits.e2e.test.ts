import { readFileSync } from "node:fs";
import { Sandbox } from "@burrow/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";

const NO_AUTO_SLEEP = { standbyAfterMs: 0, hibernateAfterMs: 0 };

/** Four busy loops inside the sandbox for `seconds`; the sandbox's CPU-seconds per wall second meanwhile. */
async function busyShare(sandbox: Sandbox, seconds: number): Promise<number> {
  const before = await sandbox.getMetrics();
  const t0 = performance.now();
  await sandbox.commands.run(`for i in 1 2 3 4; do timeout ${seconds} sh -c 'while :; do :; done' & done; wait; true`, {
    timeoutMs: 120_000,
  });
  const wall = (performance.now() - t0) / 1000;
  const after = await sandbox.getMetrics();
  return ((after.cpuSeconds ?? Number.NaN) - (before.cpuSeconds ?? Number.NaN)) / wall;
}

/** The sandbox's CFS quota in its host cgroup, in CPUs. */
function hostQuota(id: string): number {
  return Number(readFileSync(`/sys/fs/cgroup/cpu/burrow/${id}/cpu.cfs_quota_us`, "utf8")) / 100_000;
}

// Issue 16, item 3: vCPUs are a CFS quota on the sandbox's host cgroup, measured from its own CPU use.
// The host's other load only lowers a share, so the assertions are ceilings (plus "it ran at all").
describe("CPU limits with real gVisor", () => {
  let server: TestServer;
  const opts = () => ({ apiUrl: server.url, apiKey: server.apiKey, lifecycle: NO_AUTO_SLEEP });

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server?.dispose();
  });

  it("four busy loops in a 0.5-vCPU sandbox get at most about half a CPU; a live change to 1 vCPU lifts it", async () => {
    const sandbox = await Sandbox.create({ ...opts(), resources: { vcpus: 0.5 } });
    try {
      expect(hostQuota(sandbox.sandboxId)).toBe(0.5);
      const half = await busyShare(sandbox, 4);
      expect(half).toBeGreaterThan(0.05);
      expect(half).toBeLessThan(0.5 * 1.25);

      expect((await sandbox.update({ resources: { vcpus: 1 } })).resources.vcpus).toBe(1);
      expect(hostQuota(sandbox.sandboxId)).toBe(1);
      const one = await busyShare(sandbox, 4);
      expect(one).toBeLessThan(1 * 1.25);

      // The quota is in the bundle every later start uses: it survives hibernation.
      await sandbox.hibernate();
      expect((await sandbox.commands.run("echo awake")).stdout).toBe("awake\n");
      expect(hostQuota(sandbox.sandboxId)).toBe(1);

      // The real server's Prometheus scrape counts this workload: one cold create, one wake from hibernation.
      const scrape = await fetch(`${server.url}/metrics`, { headers: { Authorization: `Bearer ${server.apiKey}` } });
      const text = await scrape.text();
      expect(text).toMatch(/^burrow_sandbox_create_seconds_count\{source="cold"\} 1$/m);
      expect(text).toMatch(/^burrow_sandbox_wake_seconds_count\{from="hibernated"\} [1-9]/m);
      expect(text).toMatch(/^burrow_sandboxes\{state="running"\} 1$/m);
    } finally {
      await sandbox.kill();
    }
  }, 240_000);
});
