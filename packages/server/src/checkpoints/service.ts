import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import {
  BurrowError,
  type CheckpointInfo,
  type CheckpointMode,
  ErrorCode,
  errorMessage,
  type ForkResponse,
  type Logger,
  newCheckpointId,
} from "@burrow/core";
import {
  type ChunkSink,
  imageBytes,
  ingestStage,
  logicalBytesOf,
  materialize,
  materializeMemory,
  type PreparedCapture,
  prepareCapture,
  type Runtime,
  readPlan,
  removeTree,
  type ScanResult,
  STAGE_PREFIX,
  stageDirFor,
  writePlan,
} from "@burrow/runtime";
import type { AgentClient } from "../services/agent-client.js";
import type { KeyedMutex } from "../services/keyed-mutex.js";
import type { LifecycleService } from "../services/lifecycle.js";
import type { SandboxService } from "../services/sandbox-service.js";
import type { Transitions } from "../services/transitions.js";
import type { BlobStore } from "../store/blob-store.js";
import type { CheckpointRecord, CheckpointStore } from "../store/checkpoint-store.js";
import type { SandboxRecord, SandboxStore } from "../store/sandbox-store.js";
import type { Catalog } from "../templates/catalog.js";
import { CheckpointCapture, FROZEN_MARKER, sandboxBusy } from "./capture.js";
import { startForks } from "./fork.js";
import { chunkHashes, loadManifest, type Manifest, ReadWriteLock, saveManifest } from "./manifest-io.js";

export const MAX_FORKS = 20;

/** A restore writes the checkpoint's files and memory image beside the sandbox's, under this suffix. */
const RESTORE_SUFFIX = ".restore";

export interface CheckpointServiceDeps {
  store: SandboxStore;
  checkpoints: CheckpointStore;
  blobs: BlobStore;
  runtime: Runtime;
  templates: Catalog;
  transitions: Transitions;
  locks: KeyedMutex;
  lifecycle: LifecycleService;
  sandboxes: SandboxService;
  /** Where a sandbox's memory image lives while it hibernates. */
  imageDirOf: (id: string) => string;
  /** `<data>/snapshots`: materialised checkpoint trees that forks mount as a lower layer. */
  snapshotsDir: string;
  logger: Logger;
  agents: AgentClient;
  /** The burrow-capture tool; without it (or when the file is missing) captures run in process. */
  captureTool?: string;
}

export function toCheckpointInfo(record: CheckpointRecord): CheckpointInfo {
  const { manifestHash: _m, ...info } = record;
  return info;
}

/**
 * Checkpoints of a sandbox's files (`fs`) or files plus memory and processes (`full`), kept as
 * content-addressed chunks; restore in place, fork into new sandboxes, delete with garbage
 * collection. Every operation on a sandbox holds the sandbox's lifecycle lock.
 */
export class CheckpointService {
  /** Shared by checkpoint writers, exclusive for garbage collection. */
  readonly blobLock = new ReadWriteLock();
  /** Checkpoints being moved from their stage into the blob store, by checkpoint id. */
  private readonly ingests = new Map<string, Promise<void>>();

  private readonly capture: CheckpointCapture;

  constructor(private readonly deps: CheckpointServiceDeps) {
    this.capture = new CheckpointCapture(deps);
  }

  private async sandbox(id: string): Promise<SandboxRecord> {
    const record = await this.deps.store.get(id);
    if (!record || record.state === "deleted" || record.state === "deleting" || record.pool !== null) {
      throw new BurrowError(ErrorCode.SandboxNotFound, `sandbox ${id} not found`, { details: { sandboxId: id } });
    }
    return record;
  }

  /** The checkpoint `cid` of sandbox `id`, or checkpoint_not_found. */
  async get(id: string, cid: string): Promise<CheckpointRecord> {
    await this.sandbox(id);
    const record = await this.deps.checkpoints.get(cid);
    if (!record || record.sandboxId !== id) {
      throw new BurrowError(ErrorCode.CheckpointNotFound, `checkpoint ${cid} of sandbox ${id} not found`, {
        details: { sandboxId: id, checkpointId: cid },
      });
    }
    return record;
  }

  async list(id: string): Promise<{ checkpoints: CheckpointRecord[]; headId: string | null }> {
    await this.sandbox(id);
    return { checkpoints: await this.deps.checkpoints.list(id), headId: await this.deps.checkpoints.head(id) };
  }

  private sink(counter: { newBytes: number; hashes: Set<string> }): ChunkSink {
    return async (chunk) => {
      const put = await this.deps.blobs.put(chunk);
      counter.newBytes += put.newBytes;
      counter.hashes.add(put.hash);
      return put;
    };
  }

  /** Entries of the sandbox's layer at its head checkpoint, to skip re-reading unchanged files. */
  private async previousEntries(id: string) {
    const head = await this.deps.checkpoints.head(id);
    const ck = head === null ? undefined : await this.deps.checkpoints.get(head);
    if (ck?.status !== "ready") return undefined;
    const manifest = await loadManifest(this.deps.blobs, ck.manifestHash);
    return new Map(manifest.entries.map((e) => [e.path, e]));
  }

  /**
   * Takes a checkpoint: the sandbox is paused only while its changed files (and, for `full`,
   * its memory image) are copied aside, then runs again. The copy is moved into the blob store
   * in the background (status "storing"); restore, fork, diff and delete wait for that.
   */
  create(id: string, options: { name?: string; mode?: CheckpointMode } = {}): Promise<CheckpointRecord> {
    const mode = options.mode ?? "fs";
    return this.deps.locks.run(id, async () => {
      // The head's data first (outside the blob lock, which its storing holds).
      const head = await this.deps.checkpoints.head(id);
      if (head !== null) await this.ingests.get(head)?.catch(() => undefined);
      return this.blobLock.shared(() => this.createLocked(id, mode, options.name));
    });
  }

  /** The checkpoint once its data is in the blob store (waits while it is storing). */
  async stored(id: string, cid: string): Promise<CheckpointRecord> {
    await this.get(id, cid);
    await this.ingests.get(cid)?.catch(() => undefined);
    const ck = await this.get(id, cid);
    if (ck.status !== "ready") {
      throw new BurrowError(ErrorCode.Conflict, `checkpoint ${cid} is still being stored; try again shortly`, {
        details: { sandboxId: id, checkpointId: cid },
      });
    }
    return ck;
  }

  /** Waits until every checkpoint being stored is stored (graceful stop, tests). */
  async idle(): Promise<void> {
    while (this.ingests.size > 0) await Promise.allSettled([...this.ingests.values()]);
  }

  private async createLocked(id: string, mode: CheckpointMode, name: string | undefined): Promise<CheckpointRecord> {
    const record = await this.sandbox(id);
    const cid = newCheckpointId((n) => randomBytes(n));
    const started = performance.now();
    const previous = await this.previousEntries(id);
    const upper = this.deps.runtime.upperDir(id);
    const stage = stageDirFor(dirname(upper), cid);
    let scan: ScanResult | undefined;
    let prepared: PreparedCapture | undefined;
    // Runs while the sandbox is paused: walk the upper dir and copy what changed.
    const capture = async () => {
      if (!prepared) throw new Error("checkpoint capture was not prepared");
      scan = await prepared.run();
    };
    let pausedMs: number;
    let memoryBytes = 0;
    try {
      await rm(stage, { recursive: true, force: true });
      await mkdir(stage, { recursive: true, mode: 0o700 });
      prepared = await prepareCapture(this.deps.captureTool, upper, stage, previous);
      pausedMs =
        mode === "fs"
          ? await this.capture.files(record, cid, capture)
          : await this.capture.full(record, cid, stage, capture);
      if (!scan) throw new Error("checkpoint capture did not run");
      if (mode === "full") memoryBytes = await imageBytes(stage);
      await writePlan(stage, {
        entries: scan.entries,
        pending: scan.pending.map((p) => p.entry.path),
        memory: mode === "full",
      });
    } catch (err) {
      if (!scan) await prepared?.cancel();
      await rm(stage, { recursive: true, force: true });
      throw err;
    }
    const reused = chunkHashes(scan.entries);
    const base = await this.deps.checkpoints.base(id);
    if (base) {
      // A fork's checkpoint also needs its base layer's blobs.
      const baseManifest = await loadManifest(this.deps.blobs, base.manifestHash);
      for (const h of chunkHashes(baseManifest.entries)) reused.add(h);
      reused.add(base.manifestHash);
    }
    const ck: CheckpointRecord = {
      id: cid,
      sandboxId: id,
      name: name ?? null,
      mode,
      parentId: await this.deps.checkpoints.head(id),
      manifestHash: "",
      sizeBytes: logicalBytesOf(scan.entries) + memoryBytes,
      storedBytes: 0,
      fileCount: scan.entries.length,
      pausedMs: Math.round(pausedMs),
      createdAt: new Date().toISOString(),
      status: "storing",
    };
    // From here the checkpoint exists: its stage holds everything, and a restart finishes storing it.
    await this.deps.checkpoints.insert(ck, reused);
    this.startIngest(ck, stage, started);
    return ck;
  }

  private startIngest(ck: CheckpointRecord, stage: string, started: number): void {
    const job = this.blobLock
      .shared(() => this.ingest(ck, stage, started))
      .catch(async (err: unknown) => {
        const sandbox = await this.deps.store.get(ck.sandboxId);
        const gone = !sandbox || sandbox.state === "deleted" || sandbox.state === "deleting";
        const released = await this.deps.checkpoints.delete(ck.id);
        await rm(stage, { recursive: true, force: true }).catch(() => undefined);
        if (!gone) {
          this.deps.logger.warn(
            { sandboxId: ck.sandboxId, checkpointId: ck.id, err: errorMessage(err) },
            "storing a checkpoint failed",
          );
          await this.deps.transitions.record(ck.sandboxId, {
            type: "checkpoint_failed",
            reason: `storing ${ck.mode} checkpoint ${ck.id} failed, so it was removed: ${errorMessage(err)}`,
          });
        }
        await this.collect(released).catch(() => undefined);
      })
      .finally(() => this.ingests.delete(ck.id));
    this.ingests.set(ck.id, job);
  }

  /** Moves a staged checkpoint into the blob store and marks it ready. */
  private async ingest(ck: CheckpointRecord, stage: string, started: number): Promise<void> {
    const plan = await readPlan(stage);
    if (!plan) throw new Error(`the staged copy of checkpoint ${ck.id} is missing`);
    const counter = { newBytes: 0, hashes: new Set<string>() };
    const { entries, memory } = await ingestStage(stage, plan, this.sink(counter));
    const manifest: Manifest = { version: 1, entries };
    const base = await this.deps.checkpoints.base(ck.sandboxId);
    if (base) manifest.base = base.manifestHash;
    if (memory) manifest.memory = memory;
    const saved = await saveManifest(this.deps.blobs, manifest);
    const storedBytes = counter.newBytes + saved.newBytes;
    // The check that the row still exists and the update are one store transaction.
    const hashes = [...chunkHashes(entries, memory), ...saved.hashes];
    if (!(await this.deps.checkpoints.complete(ck.id, saved.hash, storedBytes, hashes))) {
      throw new Error("the checkpoint was deleted while it was stored");
    }
    await rm(stage, { recursive: true, force: true });
    await this.deps.transitions.record(ck.sandboxId, {
      type: "checkpointed",
      reason: `${ck.mode} checkpoint ${ck.id}${ck.name ? ` (${ck.name})` : ""}: ${ck.fileCount} entries, ${storedBytes} new bytes, paused ${ck.pausedMs} ms`,
      durationMs: performance.now() - started,
    });
  }

  private async specOf(record: SandboxRecord) {
    return {
      id: record.id,
      networkIndex: record.networkIndex,
      templateLayers: await this.deps.templates.layersOf(record),
      agentToken: record.agentToken,
    };
  }

  /**
   * Puts the sandbox back to checkpoint `cid`: its files exactly (deletions included) and, for a
   * `full` checkpoint, its memory and processes. The checkpoint becomes the sandbox's head.
   */
  async restore(id: string, cid: string): Promise<SandboxRecord> {
    await this.get(id, cid);
    return this.deps.locks.run(id, async () => {
      const record = await this.sandbox(id);
      const ck = await this.stored(id, cid);
      if (record.state === "starting" || record.state === "waking" || record.state === "hibernating") {
        throw sandboxBusy(record);
      }
      const started = performance.now();
      const manifest = await loadManifest(this.deps.blobs, ck.manifestHash);
      const upper = this.deps.runtime.upperDir(id);
      // On the upper dir's file system (the sandbox's disk), so unchanged files are linked, not copied.
      const staging = this.deps.runtime.restoreStaging(id);
      let newUpper = staging.staging;
      const imageDir = this.deps.imageDirOf(id);
      // "restarting": if the server dies mid-restore, reconcile keeps the files and reports error.
      await this.deps.transitions.move(record, "starting", {
        type: "restarting",
        reason: `restoring checkpoint ${cid}`,
      });
      let restoredNote = "";
      const memory = ck.mode === "full" ? manifest.memory : undefined;
      const newImage = `${imageDir}${RESTORE_SUFFIX}`;
      let imageWritten: Promise<void> | undefined;
      try {
        await removeTree(newUpper);
        // The memory image is written from the blobs while the sandbox stops and its files are made.
        imageWritten = memory === undefined ? undefined : materializeMemory(memory, newImage, this.deps.blobs);
        imageWritten?.catch(() => undefined); // awaited below; not unhandled if the stop fails first
        this.deps.agents.disconnect(this.deps.runtime.agentEndpoint(id, record.networkIndex));
        await this.deps.runtime.stop(id);
        // Stopped, so nothing writes to the old upper dir: the files it still has unchanged since
        // the checkpoint are linked into the new one (the old one is discarded by replaceUpper).
        let reused: number;
        try {
          reused = await materialize(manifest.entries, newUpper, this.deps.blobs, { reuseFrom: staging.upper });
        } catch (err) {
          // A disk too full to hold the changed files beside the old ones: stage on the host and
          // let replaceUpper copy them onto the emptied disk.
          if ((err as NodeJS.ErrnoException).code !== "ENOSPC" || newUpper === `${upper}${RESTORE_SUFFIX}`) throw err;
          await removeTree(newUpper);
          newUpper = `${upper}${RESTORE_SUFFIX}`;
          reused = await materialize(manifest.entries, newUpper, this.deps.blobs);
        }
        await imageWritten;
        await rm(imageDir, { recursive: true, force: true });
        await this.deps.runtime.replaceUpper(id, newUpper);
        restoredNote = reused > 0 ? `; ${reused} unchanged files reused` : "";
        if (memory !== undefined) {
          await rename(newImage, imageDir);
          await this.deps.runtime.restore({ ...(await this.specOf(record)), imageDir });
          await this.deps.agents.waitReady(this.deps.runtime.agentEndpoint(id, record.networkIndex), record.agentToken);
          await rm(imageDir, { recursive: true, force: true });
        } else {
          await this.deps.runtime.restart(await this.specOf(record));
          await this.deps.lifecycle.initAgent(record);
        }
      } catch (err) {
        await imageWritten?.catch(() => undefined);
        await removeTree(newUpper).catch(() => undefined);
        await rm(newImage, { recursive: true, force: true }).catch(() => undefined);
        // A restore or restart that started but never answered must not keep running unseen.
        await this.deps.runtime.stop(id).catch(() => undefined);
        await this.deps.transitions.move(record, "error", {
          type: "restore_failed",
          reason: errorMessage(err),
          error: `restoring checkpoint ${cid} failed: ${errorMessage(err)}`,
        });
        throw err;
      }
      await this.deps.checkpoints.setHead(id, cid);
      await this.deps.transitions.move(record, "running", {
        type: "restored",
        reason: `restored ${ck.mode} checkpoint ${cid}${restoredNote}`,
        durationMs: performance.now() - started,
      });
      return record;
    });
  }

  /**
   * `count` new sandboxes from checkpoint `cid` (see startForks): a `full` checkpoint's forks carry
   * its memory and processes, an `fs` checkpoint's start fresh processes on its files. `now` takes
   * a full checkpoint first (an fs one of a sandbox whose processes are not there to keep: stopped,
   * or in error). Each fork gets its source's egress policy and secret bindings. The forks stay
   * hidden (PENDING_FORK) until all have started, then are handed out together; a start at restart
   * that finds some still pending deletes them (the caller never got their ids).
   */
  async fork(id: string, cid: string, count: number): Promise<ForkResponse> {
    const taken =
      cid === "now"
        ? await this.create(id, { name: "fork point", mode: await this.forkPointMode(id) })
        : await this.get(id, cid);
    const source = await this.stored(id, taken.id);
    const sandbox = await this.sandbox(id);
    return this.blobLock.shared(() => startForks(this.deps, sandbox, source, count));
  }

  /** What a fork of `now` captures: memory too, when the sandbox has processes (or an image) to carry. */
  private async forkPointMode(id: string): Promise<CheckpointMode> {
    const { state } = await this.sandbox(id);
    return state === "running" || state === "standby" || state === "hibernated" ? "full" : "fs";
  }

  /** Deletes a checkpoint and frees the blobs nothing else references. False when absent. */
  async delete(id: string, cid: string): Promise<boolean> {
    await this.sandbox(id);
    const ck = await this.deps.checkpoints.get(cid);
    if (!ck || ck.sandboxId !== id) return false;
    await this.ingests.get(cid)?.catch(() => undefined);
    const candidates = await this.deps.locks.run(id, async () => this.deps.checkpoints.delete(cid));
    await this.collect(candidates);
    return true;
  }

  /**
   * Deletes blobs no checkpoint or fork references. With `candidates`, only those are looked at;
   * without, the whole store (at start, after a crash). Exclusive against checkpoint writers, so
   * a blob a checkpoint in progress has written or reused is never taken away under it.
   */
  collect(candidates?: Iterable<string>): Promise<number> {
    return this.blobLock.exclusive(async () => {
      const released = [...(await this.deps.checkpoints.releaseDeletedForks())];
      for (const orphan of await this.deps.checkpoints.orphanedCheckpoints()) {
        released.push(...(await this.deps.checkpoints.delete(orphan)));
      }
      let removed = 0;
      const check = async (hash: string) => {
        if (!(await this.deps.checkpoints.isReferenced(hash)) && (await this.deps.blobs.delete(hash))) removed++;
      };
      if (candidates === undefined) {
        for await (const hash of this.deps.blobs.list()) await check(hash);
      } else {
        for (const hash of new Set([...candidates, ...released])) await check(hash);
      }
      await this.removeUnusedSnapshots();
      return removed;
    });
  }

  private async removeUnusedSnapshots(): Promise<void> {
    const live = await this.deps.checkpoints.liveBaseManifests();
    let names: string[] = [];
    try {
      names = await readdir(this.deps.snapshotsDir);
    } catch {
      return;
    }
    for (const name of names) {
      // Also a fork call's memory image (FORK_IMAGE_PREFIX) a crash left: no live base names it.
      if (!live.has(name)) await removeTree(join(this.deps.snapshotsDir, name));
    }
  }

  /**
   * At start, before anything asks runsc about sandboxes: lets sandboxes run again that a crash
   * left frozen in an fs checkpoint or paused in a full one (runsc cannot talk to a frozen sandbox).
   */
  async thawInterrupted(): Promise<void> {
    for (const record of await this.deps.store.listLive()) {
      const marker = join(dirname(this.deps.runtime.upperDir(record.id)), FROZEN_MARKER);
      if (!existsSync(marker)) continue;
      if (record.state !== "standby") {
        await this.deps.runtime
          .unpauseInterrupted(record.id)
          .catch((err: unknown) =>
            this.deps.logger.warn(
              { sandboxId: record.id, err: errorMessage(err) },
              "thawing after an interrupted checkpoint",
            ),
          );
      }
      await rm(marker, { force: true });
    }
  }

  /**
   * At start: drop temp files of interrupted writes, finish storing checkpoints a stop
   * interrupted (their stage is complete) or drop those whose stage is gone, then collect
   * unreferenced blobs.
   */
  async reconcile(): Promise<void> {
    await this.deps.blobs.cleanup();
    await mkdir(this.deps.snapshotsDir, { recursive: true });
    const storing = new Map((await this.deps.checkpoints.listStoring()).map((ck) => [ck.id, ck]));
    for (const record of await this.deps.store.listLive()) {
      const dir = dirname(this.deps.runtime.upperDir(record.id));
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        const staged = name.startsWith(STAGE_PREFIX) ? storing.get(name.slice(STAGE_PREFIX.length)) : undefined;
        if (staged && (await readPlan(join(dir, name)))) {
          storing.delete(staged.id);
          this.startIngest(staged, join(dir, name), performance.now());
        } else if (
          name.startsWith("checkpoint-image-") ||
          name.startsWith(STAGE_PREFIX) ||
          name === `upper${RESTORE_SUFFIX}` ||
          name === `${basename(this.deps.imageDirOf(record.id))}${RESTORE_SUFFIX}`
        ) {
          // upper.restore holds a checkpoint's tree, which a sandbox made and may nest at any depth.
          await removeTree(join(dir, name));
        }
      }
      // A restore's staging dir on the sandbox's disk (gone already if the sandbox has no disk).
      await removeTree(this.deps.runtime.restoreStaging(record.id).staging);
    }
    for (const lost of storing.values()) {
      this.deps.logger.warn(
        { sandboxId: lost.sandboxId, checkpointId: lost.id },
        "dropping a checkpoint whose staged copy is gone",
      );
      await this.deps.checkpoints.delete(lost.id);
    }
    const removed = await this.collect();
    if (removed > 0) this.deps.logger.info({ removed }, "removed unreferenced checkpoint blobs");
  }
}
