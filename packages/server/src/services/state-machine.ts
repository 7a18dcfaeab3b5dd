import { BurrowError, ErrorCode, type SandboxState } from "@burrow/core";

/** The one transition table of a sandbox's lifecycle (docs/lifecycle.md draws it). */
const TRANSITIONS: Record<SandboxState, readonly SandboxState[]> = {
  starting: ["running", "error", "deleting"],
  running: ["standby", "hibernating", "starting", "error", "deleting"],
  standby: ["running", "hibernating", "starting", "error", "deleting"],
  hibernating: ["hibernated", "standby", "running", "error"],
  hibernated: ["waking", "starting", "error", "deleting"],
  waking: ["running", "hibernated", "error"],
  error: ["starting", "deleting"],
  deleting: ["deleted", "error"],
  deleted: [],
};

export function canTransition(from: SandboxState, to: SandboxState): boolean {
  return TRANSITIONS[from].includes(to);
}

export function assertTransition(id: string, from: SandboxState, to: SandboxState): void {
  if (!canTransition(from, to)) {
    throw new BurrowError(ErrorCode.Conflict, `sandbox ${id} cannot go from ${from} to ${to}`, {
      details: { from, to },
    });
  }
}

/** States in which the sandbox's processes exist but are not running (they wake on demand). */
export function isAsleep(state: SandboxState): boolean {
  return state === "standby" || state === "hibernated" || state === "hibernating" || state === "waking";
}
