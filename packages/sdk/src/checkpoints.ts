/** Checkpoints of one sandbox: create, list, get, restore, fork, delete, diff. */
import type {
  CheckpointInfo,
  CheckpointMode,
  DiffResponse,
  ForkResponse,
  ListCheckpointsResponse,
  SandboxInfo,
} from "@burrow/core";
import { CheckpointNotFoundError } from "./errors.js";
import type { ApiClient, RequestOptions } from "./http.js";

export interface CheckpointCreateOptions extends RequestOptions {
  name?: string;
  /** "fs" (files, default) or "full" (files, memory and processes). */
  mode?: CheckpointMode;
  /**
   * Resolve only once the checkpoint is in the blob store (status "ready", storedBytes known).
   * Without it the call returns as soon as the sandbox runs again (status "storing"); restore,
   * fork, diff and delete wait for the storing on their own.
   */
  wait?: boolean;
}

export interface CheckpointDiffOptions extends RequestOptions {
  /** Also return a unified text diff of this file. */
  path?: string;
}

export class Checkpoints {
  constructor(
    private readonly api: ApiClient,
    private readonly sandboxId: string,
  ) {}

  private path(rest = ""): string {
    return `/v1/sandboxes/${encodeURIComponent(this.sandboxId)}/checkpoints${rest}`;
  }

  /**
   * Takes a checkpoint; the sandbox keeps running (or sleeping) afterwards, paused only while its
   * changed files and (for "full") memory are copied aside.
   */
  create(opts: CheckpointCreateOptions = {}): Promise<CheckpointInfo> {
    const json: { name?: string; mode?: CheckpointMode; wait?: boolean } = {};
    if (opts.name !== undefined) json.name = opts.name;
    if (opts.mode !== undefined) json.mode = opts.mode;
    if (opts.wait !== undefined) json.wait = opts.wait;
    return this.api.json<CheckpointInfo>(
      { method: "POST", path: this.path(), subject: "sandbox", json },
      opts,
      `checkpointing sandbox ${this.sandboxId}`,
    );
  }

  /** Every checkpoint of the sandbox, oldest first, and the one its files descend from. */
  list(opts?: RequestOptions): Promise<ListCheckpointsResponse> {
    return this.api.json<ListCheckpointsResponse>(
      { method: "GET", path: this.path(), subject: "sandbox" },
      opts,
      `listing checkpoints of sandbox ${this.sandboxId}`,
    );
  }

  get(checkpointId: string, opts?: RequestOptions): Promise<CheckpointInfo> {
    return this.api.json<CheckpointInfo>(
      { method: "GET", path: this.path(`/${encodeURIComponent(checkpointId)}`), subject: "sandbox" },
      opts,
      `getting checkpoint ${checkpointId}`,
    );
  }

  /** Puts the sandbox back to the checkpoint (files; memory and processes for `full`). */
  restore(checkpointId: string, opts?: RequestOptions): Promise<SandboxInfo> {
    return this.api.json<SandboxInfo>(
      { method: "POST", path: this.path(`/${encodeURIComponent(checkpointId)}/restore`), subject: "sandbox", json: {} },
      opts,
      `restoring checkpoint ${checkpointId}`,
    );
  }

  /**
   * `count` new sandboxes from the checkpoint ("now": a full checkpoint first). A full checkpoint's
   * forks carry its memory and processes (`processes: "restored"`); an fs checkpoint's start fresh.
   */
  fork(checkpointId: string, opts: RequestOptions & { count?: number } = {}): Promise<ForkResponse> {
    return this.api.json<ForkResponse>(
      {
        method: "POST",
        path: this.path(`/${encodeURIComponent(checkpointId)}/fork`),
        subject: "sandbox",
        json: opts.count === undefined ? {} : { count: opts.count },
      },
      opts,
      `forking checkpoint ${checkpointId}`,
    );
  }

  /** Deletes a checkpoint; false when it did not exist. */
  async delete(checkpointId: string, opts?: RequestOptions): Promise<boolean> {
    try {
      await this.api.empty(
        { method: "DELETE", path: this.path(`/${encodeURIComponent(checkpointId)}`), subject: "sandbox" },
        opts,
        `deleting checkpoint ${checkpointId}`,
      );
      return true;
    } catch (err) {
      if (err instanceof CheckpointNotFoundError) return false;
      throw err;
    }
  }

  /** Files added, modified and removed from `from` to `to` (a checkpoint id or "now"). */
  diff(from: string, to = "now", opts: CheckpointDiffOptions = {}): Promise<DiffResponse> {
    const query: Record<string, string> = { from, to };
    if (opts.path !== undefined) query.path = opts.path;
    return this.api.json<DiffResponse>(
      { method: "GET", path: this.path("/diff"), subject: "sandbox", query },
      opts,
      `diffing checkpoints of sandbox ${this.sandboxId}`,
    );
  }
}
