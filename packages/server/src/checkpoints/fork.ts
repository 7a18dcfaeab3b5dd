import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { join } from "node:path";
import type { ForkResponse } from "@burrow/core";
import { materialize, materializeMemory, removeTree } from "@burrow/runtime";
import { PENDING_FORK, type SandboxService } from "../services/sandbox-service.js";
import type { Transitions } from "../services/transitions.js";
import type { BlobStore } from "../store/blob-store.js";
import type { CheckpointRecord, CheckpointStore } from "../store/checkpoint-store.js";
import type { SandboxRecord } from "../store/sandbox-store.js";
import { chunkHashes, loadManifest, mergedEntries, saveManifest } from "./manifest-io.js";

/** Forks started at once. */
const FORK_PARALLELISM = 3;

/** Prefix of a memory image materialised for one fork call under snapshots/ (collected with unused snapshots). */
export const FORK_IMAGE_PREFIX = ".image-";

export interface ForkDeps {
  checkpoints: CheckpointStore;
  blobs: BlobStore;
  sandboxes: SandboxService;
  transitions: Transitions;
  /** `<data>/snapshots`: materialised checkpoint trees that forks mount as a lower layer. */
  snapshotsDir: string;
}

/**
 * Starts `count` forks of `sandbox` at checkpoint `source` (stored). The checkpoint's whole tree
 * is materialised once under snapshots/ and mounted read-only below each fork's empty upper dir.
 * For a `full` checkpoint its memory image is materialised once too and restored into every fork
 * (runtime `restoreAsNew`: new id, /30 and agent token), so the source's processes run on in each
 * with the memory they had; for `fs` the forks start fresh processes. The image is removed once
 * all forks have started. The caller holds the blob lock (shared).
 */
export async function startForks(
  deps: ForkDeps,
  sandbox: SandboxRecord,
  source: CheckpointRecord,
  count: number,
): Promise<ForkResponse> {
  const manifest = await loadManifest(deps.blobs, source.manifestHash);
  const entries = await mergedEntries(deps.blobs, manifest);
  const saved = await saveManifest(deps.blobs, { version: 1, entries });
  const hashes = new Set([...chunkHashes(entries), ...saved.hashes]);
  const snapshot = join(deps.snapshotsDir, saved.hash);
  const memory = source.mode === "full" ? manifest.memory : undefined;
  const imageDir =
    memory === undefined ? undefined : join(deps.snapshotsDir, `${FORK_IMAGE_PREFIX}${randomBytes(6).toString("hex")}`);
  try {
    await Promise.all([
      existsSync(snapshot) ? undefined : materializeSnapshot(deps, entries, snapshot),
      memory === undefined || imageDir === undefined ? undefined : materializeMemory(memory, imageDir, deps.blobs),
    ]);
    const inserted: string[] = [];
    const startFork = async () => {
      const fork = await deps.sandboxes.createFresh(
        sandbox.template,
        sandbox.resources,
        sandbox.lifecycle,
        { ...sandbox.metadata },
        sandbox.env,
        PENDING_FORK,
        {
          extraLower: snapshot,
          settingsOf: sandbox.id,
          ...(imageDir === undefined ? {} : { restoreImage: imageDir }),
          // The source's layers, even if its template's tag has moved since.
          ...(sandbox.templateVersion === undefined ? {} : { templateVersion: sandbox.templateVersion }),
          // Written with the sandbox row, before the runtime mounts the snapshot.
          onInserted: async (forkId) => {
            inserted.push(forkId);
            await deps.checkpoints.setBase(forkId, { checkpointId: source.id, manifestHash: saved.hash }, hashes);
          },
        },
      );
      await deps.transitions.record(fork.id, {
        type: "forked",
        reason: `forked from ${sandbox.id} checkpoint ${source.id}${imageDir === undefined ? "" : " with its memory"}`,
      });
      return fork.id;
    };
    // A few at a time (each is a runsc start, and this host has few cores), the next starting as
    // soon as one is done. If any fork fails, no new one starts and every sandbox this call made
    // (failed ones too) is deleted: all forks or none. The ids keep creation order.
    const ids: string[] = [];
    let next = 0;
    let failure: { reason: unknown } | undefined;
    const worker = async () => {
      while (failure === undefined && next < count) {
        next++;
        const slot = ids.length;
        ids.push("");
        try {
          ids[slot] = await startFork();
        } catch (err) {
          failure ??= { reason: err };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(FORK_PARALLELISM, count) }, worker));
    if (failure !== undefined) {
      for (const forkId of inserted) await deps.sandboxes.delete(forkId).catch(() => false);
      throw failure.reason;
    }
    await deps.sandboxes.handOut(ids);
    return {
      checkpointId: source.id,
      sandboxIds: ids,
      processes: imageDir === undefined ? ("fresh" as const) : ("restored" as const),
    };
  } finally {
    if (imageDir !== undefined) await rm(imageDir, { recursive: true, force: true });
  }
}

/** Writes the checkpoint's merged tree to `snapshot` through a temp dir (another call may race to it). */
async function materializeSnapshot(
  deps: ForkDeps,
  entries: Awaited<ReturnType<typeof mergedEntries>>,
  snapshot: string,
): Promise<void> {
  const temp = `${snapshot}.tmp-${randomBytes(4).toString("hex")}`;
  try {
    await materialize(entries, temp, deps.blobs);
    await rename(temp, snapshot);
  } catch (err) {
    await removeTree(temp);
    if (!existsSync(snapshot)) throw err;
  }
}
