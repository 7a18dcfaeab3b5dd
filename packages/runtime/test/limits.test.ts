import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { applyHostMemoryHeadroom, hostMemoryLimitBytes } from "../src/memory-headroom.js";
import { buildOciSpec, hostPidsLimit } from "../src/oci-spec.js";

const MIB = 1024 * 1024;

function spec(pids: number, memoryMb: number) {
  return buildOciSpec({
    id: "sb_x",
    rootfsPath: "/r",
    runDirPath: "/run",
    agentBinaryPath: "/a",
    resources: { vcpus: 1, memoryMb, pids, diskMb: 0 },
    agentPort: 1,
    netns: "n",
  }) as {
    process: { rlimits: { type: string; hard: number }[]; capabilities: Record<string, string[]> };
    linux: { resources: { pids: { limit: number }; memory: { limit: number } } };
  };
}

// Issue 11, item 9: the limits a sandbox's processes meet inside, and the room the host leaves.
describe("sandbox limits in the OCI spec and the host cgroups", () => {
  it("gives every process RLIMIT_NPROC = pids and only the agent CAP_SYS_RESOURCE", () => {
    const s = spec(64, 512);
    expect(s.process.rlimits).toContainEqual({ type: "RLIMIT_NPROC", hard: 64, soft: 64 });
    expect(s.process.capabilities.effective).toContain("CAP_SYS_RESOURCE");
    expect(s.process.capabilities.bounding).not.toContain("CAP_SYS_RESOURCE");
    expect(s.linux.resources.pids.limit).toBe(hostPidsLimit(64));
    expect(hostPidsLimit(64)).toBeGreaterThan(64 * 2 + 40);
    // gVisor sizes the sandbox's memory from the spec: exactly memoryMb.
    expect(s.linux.resources.memory.limit).toBe(512 * MIB);
  });

  it("raises the host memory cgroup above the sandbox's memory after start", async () => {
    const dir = mkdtempSync("/tmp/burrow-limits-");
    try {
      const bundle = join(dir, "bundle");
      mkdirSync(bundle);
      writeFileSync(join(bundle, "config.json"), JSON.stringify(spec(64, 512)));
      const cgroup = join(dir, "memory", "burrow", "sb_x");
      mkdirSync(cgroup, { recursive: true });
      writeFileSync(join(cgroup, "memory.limit_in_bytes"), String(512 * MIB));
      await applyHostMemoryHeadroom("sb_x", bundle, join(dir, "memory"));
      expect(Number(readFileSync(join(cgroup, "memory.limit_in_bytes"), "utf8"))).toBe(768 * MIB);
      expect(hostMemoryLimitBytes(4096 * MIB)).toBe(5120 * MIB);
      // No cgroup (runsc without cgroups): nothing to do.
      await applyHostMemoryHeadroom("sb_gone", bundle, join(dir, "memory"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
