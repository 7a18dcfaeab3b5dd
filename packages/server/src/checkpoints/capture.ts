import { rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { BurrowError, ErrorCode, errorMessage } from "@burrow/core";
import { linkImageToStage, type Runtime, stageImage } from "@burrow/runtime";
import type { AgentClient } from "../services/agent-client.js";
import type { Transitions } from "../services/transitions.js";
import type { SandboxRecord } from "../store/sandbox-store.js";

/** Marks a sandbox paused or frozen by a checkpoint, so the next start lets it run if a crash left it so. */
export const FROZEN_MARKER = "checkpoint-frozen";

export interface CaptureDeps {
  runtime: Runtime;
  transitions: Transitions;
  /** Where a sandbox's memory image lives while it hibernates. */
  imageDirOf: (id: string) => string;
  agents: AgentClient;
}

export function sandboxBusy(record: SandboxRecord): BurrowError {
  return new BurrowError(ErrorCode.SandboxNotRunning, `sandbox ${record.id} is ${record.state}; try again shortly`, {
    details: { sandboxId: record.id, state: record.state },
  });
}

/**
 * The moment of a checkpoint: holds the sandbox still while `capture` copies its changed files
 * aside (and, for full, while runsc writes its memory image), then lets it run again. Returns
 * how long the sandbox was held, in milliseconds.
 */
export class CheckpointCapture {
  constructor(private readonly deps: CaptureDeps) {}

  /** fs mode: a running sandbox is frozen (cgroup freezer, well under a millisecond) while its files are copied. */
  async files(record: SandboxRecord, cid: string, capture: () => Promise<void>): Promise<number> {
    if (!["running", "standby", "hibernated", "error"].includes(record.state)) throw sandboxBusy(record);
    const freeze = record.state === "running";
    // The marker lets the next start thaw a sandbox a crash left frozen mid-checkpoint.
    const marker = join(dirname(this.deps.runtime.upperDir(record.id)), FROZEN_MARKER);
    const t0 = performance.now();
    if (freeze) {
      await writeFile(marker, cid);
      await this.deps.runtime.pause(record.id);
    }
    try {
      await capture();
    } finally {
      if (freeze) {
        await this.deps.runtime.resume(record.id);
        await rm(marker, { force: true });
      }
    }
    return performance.now() - t0;
  }

  /**
   * full mode: runsc writes the memory image while the sandbox is paused and its files are
   * copied at the same time; then it resumes (no restore). A hibernated sandbox's image is
   * already on disk and is linked into the stage.
   */
  async full(record: SandboxRecord, cid: string, stage: string, capture: () => Promise<void>): Promise<number> {
    const id = record.id;
    if (record.state === "hibernated") {
      await linkImageToStage(this.deps.imageDirOf(id), stage);
      await capture();
      return 0;
    }
    if (record.state !== "running" && record.state !== "standby") throw sandboxBusy(record);
    const wasStandby = record.state === "standby";
    // "hibernating" holds new requests back until the image is written: a connection open at
    // that moment would be dead in every restore of it.
    await this.deps.transitions.move(record, "hibernating", {
      type: "checkpointing",
      reason: `full checkpoint ${cid}`,
    });
    const marker = join(dirname(this.deps.runtime.upperDir(id)), FROZEN_MARKER);
    const t0 = performance.now();
    try {
      this.deps.agents.disconnect(this.deps.runtime.agentEndpoint(id, record.networkIndex));
      await writeFile(marker, cid);
      await this.deps.runtime.liveCheckpoint(id, record.networkIndex, stageImage(stage), capture);
    } catch (err) {
      await this.recoverAfterFailedCheckpoint(record, wasStandby, err);
      throw err;
    } finally {
      await rm(marker, { force: true });
    }
    const pausedMs = performance.now() - t0;
    await this.deps.transitions.move(record, "running", {
      reason: `resumed after full checkpoint ${cid}`,
      durationMs: pausedMs,
    });
    if (wasStandby) {
      await this.deps.runtime.pause(id);
      await this.deps.transitions.move(record, "standby", { reason: `back to standby after checkpoint ${cid}` });
    }
    return pausedMs;
  }

  private async recoverAfterFailedCheckpoint(record: SandboxRecord, wasStandby: boolean, err: unknown) {
    await rm(this.deps.imageDirOf(record.id), { recursive: true, force: true }).catch(() => undefined);
    const status = await this.deps.runtime.status(record.id).catch(() => null);
    if (status && (status.status === "running" || status.status === "paused")) {
      await this.deps.transitions.move(record, wasStandby ? "standby" : "running", {
        type: "checkpoint_failed",
        reason: `full checkpoint failed; the sandbox kept running: ${errorMessage(err)}`,
      });
      if (wasStandby) await this.deps.runtime.pause(record.id).catch(() => undefined);
      return;
    }
    await this.deps.transitions.move(record, "error", {
      type: "checkpoint_failed",
      reason: "full checkpoint failed and the sandbox stopped",
      error: `checkpoint failed: ${errorMessage(err)}; the files are kept — restart or restore the sandbox`,
    });
  }
}
