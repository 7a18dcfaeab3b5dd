import { availableParallelism, totalmem } from "node:os";
import { BurrowError, DEFAULT_RESOURCES, ErrorCode, type SandboxResources } from "@burrow/core";

/** What this host can give one sandbox at most. */
export interface HostCapacity {
  cpus: number;
  memoryMb: number;
}

export function hostCapacity(): HostCapacity {
  return { cpus: availableParallelism(), memoryMb: Math.floor(totalmem() / (1024 * 1024)) };
}

/**
 * The resources a sandbox gets for what its request leaves out: the defaults, cut down to the
 * host's size (a 1-core host gives 1 vCPU), so a create without resources always fits.
 */
export function defaultResources(host: HostCapacity): SandboxResources {
  return {
    ...DEFAULT_RESOURCES,
    vcpus: Math.min(DEFAULT_RESOURCES.vcpus, host.cpus),
    memoryMb: Math.min(DEFAULT_RESOURCES.memoryMb, host.memoryMb),
  };
}

/**
 * The resources a sandbox gets from a live change, or a 400 for what cannot change live: memory
 * and pids (gVisor fixes both when the sandbox starts), a disk that would shrink, and a disk for a
 * sandbox that has none of its own.
 */
export function resized(current: SandboxResources, wanted: Partial<SandboxResources>, host: HostCapacity) {
  const next: SandboxResources = { ...current, ...wanted };
  const invalid = (field: string, message: string) =>
    new BurrowError(ErrorCode.ValidationFailed, `resources.${field}: ${message}`, {
      details: { field: `resources.${field}`, current: current[field as keyof SandboxResources] },
    });
  for (const field of ["memoryMb", "pids"] as const) {
    if (next[field] !== current[field]) {
      throw invalid(
        field,
        `cannot change on an existing sandbox (gVisor sets it at start; it is ${current[field]}): fork or create a sandbox with the new value`,
      );
    }
  }
  if (next.diskMb !== current.diskMb) {
    if (current.diskMb === 0) throw invalid("diskMb", "this sandbox has no disk of its own (made before disk limits)");
    if (next.diskMb < current.diskMb) throw invalid("diskMb", `can grow but not shrink (it is ${current.diskMb})`);
  }
  admit(next, host);
  return next;
}

/**
 * Refuses a sandbox this host could never give what it asks for: more vCPUs than it has cores,
 * or more memory than it has RAM. Limits below those are ceilings, not reservations: sandboxes
 * share (overcommit) the host's cores and memory; see docs/lifecycle.md.
 */
export function admit(resources: SandboxResources, host: HostCapacity): void {
  const over = (limit: string, requested: number, available: number, unit: string) =>
    new BurrowError(
      ErrorCode.ResourcesExceeded,
      `resources.${limit} ${requested} is more than this host has (${available} ${unit})`,
      { details: { field: `resources.${limit}`, requested, host: available } },
    );
  if (resources.vcpus > host.cpus) throw over("vcpus", resources.vcpus, host.cpus, "cores");
  if (resources.memoryMb > host.memoryMb) throw over("memoryMb", resources.memoryMb, host.memoryMb, "MB of RAM");
}
