import { prefixedId } from "./ids.js";
/** Wire types of checkpoints: snapshots of a sandbox's files (and, in `full` mode, memory). */

/** `fs`: the sandbox's files. `full`: files plus memory and processes. */
export type CheckpointMode = "fs" | "full";

export type CheckpointStatus = "storing" | "ready";

export interface CheckpointInfo {
  /** "ck_" + 20 characters. */
  id: string;
  sandboxId: string;
  name: string | null;
  mode: CheckpointMode;
  /** The checkpoint the sandbox was at when this one was taken (null for the first). */
  parentId: string | null;
  /** Bytes of files (and memory image) the checkpoint describes. */
  sizeBytes: number;
  /**
   * Bytes this checkpoint added to the blob store (0 when nothing changed; 0 while storing).
   */
  storedBytes: number;
  /**
   * "storing" right after creation: the checkpoint is taken (the sandbox runs again) and its
   * copy is being moved into the blob store; restore, fork, diff and delete wait for it.
   * "ready" once stored.
   */
  status: CheckpointStatus;
  fileCount: number;
  createdAt: string;
  /** Milliseconds the sandbox was paused or stopped while the checkpoint was taken. */
  pausedMs: number;
}

export interface CreateCheckpointRequest {
  name?: string;
  /** Default "fs". */
  mode?: CheckpointMode;
  /** Answer only once the checkpoint is stored (status "ready", storedBytes known). Default false. */
  wait?: boolean;
}

export interface ListCheckpointsResponse {
  checkpoints: CheckpointInfo[];
  /** The checkpoint the sandbox's files descend from (last taken or restored), if any. */
  headId: string | null;
}

export interface ForkCheckpointRequest {
  /** How many sandboxes to start; default 1, at most 20. */
  count?: number;
}

export interface ForkResponse {
  checkpointId: string;
  /** New sandbox ids, in creation order. */
  sandboxIds: string[];
  /**
   * `restored`: forks of a full checkpoint carry its memory and processes (each in its own id,
   * address and agent token); `fresh`: forks of an fs checkpoint start new processes on its files.
   */
  processes: "fresh" | "restored";
}

export type DiffChange = "added" | "modified" | "removed";

export interface DiffEntry {
  path: string;
  change: DiffChange;
  type: "file" | "dir" | "symlink" | "other";
  /** Size before (modified, removed). */
  oldSize?: number;
  /** Size after (added, modified). */
  newSize?: number;
}

export interface DiffResponse {
  from: string;
  to: string;
  entries: DiffEntry[];
  /** Unified diff of `path`, when asked for one. */
  unified?: string;
}

export const CHECKPOINT_ID_PATTERN = /^ck_[a-z2-7]{20}$/;

export function newCheckpointId(randomBytes: (n: number) => Uint8Array): string {
  return prefixedId("ck", randomBytes);
}

export function isCheckpointId(value: string): boolean {
  return CHECKPOINT_ID_PATTERN.test(value);
}
