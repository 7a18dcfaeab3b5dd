import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * The host cgroups (v1) runsc makes for a sandbox at `<controller>/burrow/<id>`: read for what
 * the sandbox uses, written to change its CPU quota while it runs.
 */

const CGROUP_ROOT = "/sys/fs/cgroup";
/** The CFS period the OCI spec sets; quotas are vcpus × this. */
export const CPU_PERIOD_US = 100_000;

async function readNumber(path: string): Promise<number | undefined> {
  try {
    const value = Number((await readFile(path, "utf8")).trim());
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The first of `controllers` (a v1 hierarchy may be mounted alone or joined, e.g. "cpu,cpuacct") that has the file. */
async function readController(root: string, controllers: string[], id: string, file: string) {
  for (const c of controllers) {
    const value = await readNumber(join(root, c, "burrow", id, file));
    if (value !== undefined) return value;
  }
  return undefined;
}

export interface CgroupUsage {
  /** CPU time the sandbox (its processes and gVisor itself) has used, in seconds. */
  cpuSeconds?: number;
  /** Host memory the sandbox's cgroup holds now (its processes' memory and gVisor's own). */
  memoryBytes?: number;
}

/** What the sandbox's cgroups report; fields are absent when a cgroup is (no running sandbox). */
export async function readCgroupUsage(id: string, root = CGROUP_ROOT): Promise<CgroupUsage> {
  const cpuNs = await readController(root, ["cpuacct", "cpu,cpuacct", "cpuacct,cpu"], id, "cpuacct.usage");
  const memory = await readController(root, ["memory"], id, "memory.usage_in_bytes");
  return {
    ...(cpuNs === undefined ? {} : { cpuSeconds: cpuNs / 1e9 }),
    ...(memory === undefined ? {} : { memoryBytes: memory }),
  };
}

/** Sets the CPU quota of a running sandbox to `vcpus` CPUs. False when it has no cgroup (not running). */
export async function writeCpuQuota(id: string, vcpus: number, root = CGROUP_ROOT): Promise<boolean> {
  for (const c of ["cpu", "cpu,cpuacct", "cpuacct,cpu"]) {
    try {
      await writeFile(join(root, c, "burrow", id, "cpu.cfs_quota_us"), String(Math.round(vcpus * CPU_PERIOD_US)));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
  return false;
}
