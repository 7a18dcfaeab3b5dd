import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

const MEMORY_CGROUP_ROOT = "/sys/fs/cgroup/memory";
const MIB = 1024 * 1024;

/**
 * The host cgroup's memory limit for a sandbox whose processes may use `sandboxBytes`. gVisor
 * sizes the sandbox's memory (its MemTotal) from the OCI spec's limit, which is `sandboxBytes`;
 * the host cgroup also holds the sentry and gofer themselves, and the agent's in-sandbox OOM
 * killer acts a moment after the sandbox runs out. Without room for both, the host OOM killer
 * kills the whole sandbox instead of one process in it.
 */
export function hostMemoryLimitBytes(sandboxBytes: number): number {
  return sandboxBytes + Math.max(256 * MIB, Math.round(sandboxBytes / 4));
}

/**
 * Raises the host memory cgroup of a started sandbox (runsc set it to the spec's limit) to
 * `hostMemoryLimitBytes`. Runs after every `runsc run` and `restore`. No-op without the cgroup.
 */
export async function applyHostMemoryHeadroom(id: string, bundleDir: string, root = MEMORY_CGROUP_ROOT): Promise<void> {
  const spec = JSON.parse(await readFile(join(bundleDir, "config.json"), "utf8")) as {
    linux?: { resources?: { memory?: { limit?: number } } };
  };
  const limit = spec.linux?.resources?.memory?.limit;
  if (typeof limit !== "number" || limit <= 0) return;
  try {
    await writeFile(join(root, "burrow", id, "memory.limit_in_bytes"), String(hostMemoryLimitBytes(limit)));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}
