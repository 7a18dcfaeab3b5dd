import { BurrowError, ErrorCode, type SandboxState } from "@burrow/core";

/** The one transition table of a sandbox's lifecycle. */
const TRANSITIONS: Record<SandboxState, readonly SandboxState[]> = {
  starting: ["running", "error", "deleting"],
  running: ["error", "deleting"],
  error: ["deleting"],
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
