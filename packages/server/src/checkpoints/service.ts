import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
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
import { PENDING_FORK, type SandboxService } from "../services/sandbox-service.js";
import type { Transitions } from "../services/transitions.js";
import type { BlobStore } from "../store/blob-store.js";
import type { CheckpointRecord, CheckpointStore } from "../store/checkpoint-store.js";
import type { SandboxRecord, SandboxStore } from "../store/sandbox-store.js";
import type { Catalog } from "../templates/catalog.js";
import { CheckpointCapture, FROZEN_MARKER, sandboxBusy } from "./capture.js";
import { chunkHashes, loadManifest, type Manifest, mergedEntries, ReadWriteLock, saveManifest } from "./manifest-io.js";

/** Forks started at once. */
const FORK_PARALLELISM = 3;

export const MAX_FORKS = 20;

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

  private sandbox(id: string): SandboxRecord {
    const record = this.deps.store.get(id);
    if (!record || record.state === "deleted" || record.state === "deleting" || record.pool !== null) {
      throw new BurrowError(ErrorCode.SandboxNotFound, `sandbox ${id} not found`, { details: { sandboxId: id } });
    }
    return record;
  }

  /** The checkpoint `cid` of sandbox `id`, or checkpoint_not_found. */
  get(id: string, cid: string): CheckpointRecord {
    this.sandbox(id);
    const record = this.deps.checkpoints.get(cid);
    if (!record || record.sandboxId !== id) {
      throw new BurrowError(ErrorCode.CheckpointNotFound, `checkpoint ${cid} of sandbox ${id} not found`, {
        details: { sandboxId: id, checkpointId: cid },
      });
    }
    return record;
  }

  list(id: string): { checkpoints: CheckpointRecord[]; headId: string | null } {
    this.sandbox(id);
    return { checkpoints: this.deps.checkpoints.list(id), headId: this.deps.checkpoints.head(id) };
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
    const head = this.deps.checkpoints.head(id);
    const ck = head === null ? undefined : this.deps.checkpoints.get(head);
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
      const head = this.deps.checkpoints.head(id);
      if (head !== null) await this.ingests.get(head)?.catch(() => undefined);
      return this.blobLock.shared(() => this.createLocked(id, mode, options.name));
    });
  }

  /** The checkpoint once its data is in the blob store (waits while it is storing). */
  async stored(id: string, cid: string): Promise<CheckpointRecord> {
    this.get(id, cid);
    await this.ingests.get(cid)?.catch(() => undefined);
    const ck = this.get(id, cid);
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
    const record = this.sandbox(id);
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
    const base = this.deps.checkpoints.base(id);
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
      parentId: this.deps.checkpoints.head(id),
      manifestHash: "",
      sizeBytes: logicalBytesOf(scan.entries) + memoryBytes,
      storedBytes: 0,
      fileCount: scan.entries.length,
      pausedMs: Math.round(pausedMs),
      createdAt: new Date().toISOString(),
      status: "storing",
    };
    // From here the checkpoint exists: its stage holds everything, and a restart finishes storing it.
    this.deps.checkpoints.insert(ck, reused);
    this.startIngest(ck, stage, started);
    return ck;
  }

  private startIngest(ck: CheckpointRecord, stage: string, started: number): void {
    const job = this.blobLock
      .shared(() => this.ingest(ck, stage, started))
      .catch(async (err: unknown) => {
        const sandbox = this.deps.store.get(ck.sandboxId);
        const gone = !sandbox || sandbox.state === "deleted" || sandbox.state === "deleting";
        const released = this.deps.checkpoints.delete(ck.id);
        await rm(stage, { recursive: true, force: true }).catch(() => undefined);
        if (!gone) {
          this.deps.logger.warn(
            { sandboxId: ck.sandboxId, checkpointId: ck.id, err: errorMessage(err) },
            "storing a checkpoint failed",
          );
          this.deps.transitions.record(ck.sandboxId, {
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
    const base = this.deps.checkpoints.base(ck.sandboxId);
    if (base) manifest.base = base.manifestHash;
    if (memory) manifest.memory = memory;
    const saved = await saveManifest(this.deps.blobs, manifest);
    if (!this.deps.checkpoints.get(ck.id)) throw new Error("the checkpoint was deleted while it was stored");
    const storedBytes = counter.newBytes + saved.newBytes;
    this.deps.checkpoints.complete(ck.id, saved.hash, storedBytes, [...chunkHashes(entries, memory), ...saved.hashes]);
    await rm(stage, { recursive: true, force: true });
    this.deps.transitions.record(ck.sandboxId, {
      type: "checkpointed",
      reason: `${ck.mode} checkpoint ${ck.id}${ck.name ? ` (${ck.name})` : ""}: ${ck.fileCount} entries, ${storedBytes} new bytes, paused ${ck.pausedMs} ms`,
      durationMs: performance.now() - started,
    });
  }

  private specOf(record: SandboxRecord) {
    return {
      id: record.id,
      networkIndex: record.networkIndex,
      templateLayers: this.deps.templates.layersOf(record),
      agentToken: record.agentToken,
    };
  }

  /**
   * Puts the sandbox back to checkpoint `cid`: its files exactly (deletions included) and, for a
   * `full` checkpoint, its memory and processes. The checkpoint becomes the sandbox's head.
   */
  restore(id: string, cid: string): Promise<SandboxRecord> {
    this.get(id, cid);
    return this.deps.locks.run(id, async () => {
      const record = this.sandbox(id);
      const ck = await this.stored(id, cid);
      if (record.state === "starting" || record.state === "waking" || record.state === "hibernating") {
        throw sandboxBusy(record);
      }
      const started = performance.now();
      const manifest = await loadManifest(this.deps.blobs, ck.manifestHash);
      const upper = this.deps.runtime.upperDir(id);
      const newUpper = `${upper}.restore`;
      const imageDir = this.deps.imageDirOf(id);
      // "restarting": if the server dies mid-restore, reconcile keeps the files and reports error.
      this.deps.transitions.move(record, "starting", { type: "restarting", reason: `restoring checkpoint ${cid}` });
      try {
        await removeTree(newUpper);
        await materialize(manifest.entries, newUpper, this.deps.blobs);
        this.deps.agents.disconnect(this.deps.runtime.agentEndpoint(id, record.networkIndex));
        await this.deps.runtime.stop(id);
        await rm(imageDir, { recursive: true, force: true });
        await this.deps.runtime.replaceUpper(id, newUpper);
        if (ck.mode === "full" && manifest.memory) {
          await materializeMemory(manifest.memory, imageDir, this.deps.blobs);
          await this.deps.runtime.restore({ ...this.specOf(record), imageDir });
          await this.deps.agents.waitReady(this.deps.runtime.agentEndpoint(id, record.networkIndex), record.agentToken);
          await rm(imageDir, { recursive: true, force: true });
        } else {
          await this.deps.runtime.restart(this.specOf(record));
          await this.deps.lifecycle.initAgent(record);
        }
      } catch (err) {
        await removeTree(newUpper).catch(() => undefined);
        // A restore or restart that started but never answered must not keep running unseen.
        await this.deps.runtime.stop(id).catch(() => undefined);
        this.deps.transitions.move(record, "error", {
          type: "restore_failed",
          reason: errorMessage(err),
          error: `restoring checkpoint ${cid} failed: ${errorMessage(err)}`,
        });
        throw err;
      }
      this.deps.checkpoints.setHead(id, cid);
      this.deps.transitions.move(record, "running", {
        type: "restored",
        reason: `restored ${ck.mode} checkpoint ${cid}`,
        durationMs: performance.now() - started,
      });
      return record;
    });
  }

  /**
   * `count` new sandboxes on the files of checkpoint `cid` ("now": a new fs checkpoint first).
   * The checkpoint's whole tree is materialised once under snapshots/ and mounted read-only
   * below each fork's empty upper dir, so forks cost nearly nothing on disk up front.
   * Forks start fresh processes: memory is never forked (a restored netstack keeps its address).
   * Each fork gets its source's egress policy and secret bindings. The forks stay hidden
   * (PENDING_FORK) until all have started, then are handed out together; a start at restart that
   * finds some still pending deletes them (the caller never got their ids).
   */
  async fork(id: string, cid: string, count: number): Promise<ForkResponse> {
    const taken = cid === "now" ? await this.create(id, { name: "fork point" }) : this.get(id, cid);
    const source = await this.stored(id, taken.id);
    const sandbox = this.sandbox(id);
    return this.blobLock.shared(async () => {
      const manifest = await loadManifest(this.deps.blobs, source.manifestHash);
      const entries = await mergedEntries(this.deps.blobs, manifest);
      const saved = await saveManifest(this.deps.blobs, { version: 1, entries });
      const hashes = new Set([...chunkHashes(entries), ...saved.hashes]);
      const snapshot = join(this.deps.snapshotsDir, saved.hash);
      if (!existsSync(snapshot)) {
        const temp = `${snapshot}.tmp-${randomBytes(4).toString("hex")}`;
        try {
          await materialize(entries, temp, this.deps.blobs);
          await rename(temp, snapshot);
        } catch (err) {
          await removeTree(temp);
          if (!existsSync(snapshot)) throw err;
        }
      }
      const inserted: string[] = [];
      const startFork = async () => {
        const fork = await this.deps.sandboxes.createFresh(
          sandbox.template,
          sandbox.resources,
          sandbox.lifecycle,
          { ...sandbox.metadata },
          sandbox.env,
          PENDING_FORK,
          {
            extraLower: snapshot,
            settingsOf: id,
            // The source's layers, even if its template's tag has moved since.
            ...(sandbox.templateVersion === undefined ? {} : { templateVersion: sandbox.templateVersion }),
            // Written with the sandbox row, before the runtime mounts the snapshot.
            onInserted: (forkId) => {
              inserted.push(forkId);
              this.deps.checkpoints.setBase(forkId, { checkpointId: source.id, manifestHash: saved.hash }, hashes);
            },
          },
        );
        this.deps.transitions.record(fork.id, { type: "forked", reason: `forked from ${id} checkpoint ${source.id}` });
        return fork.id;
      };
      // A few at a time: each is a runsc start, and this host has few cores.
      // If any fork fails, every sandbox this call made (failed ones too) is deleted: all forks or none.
      const ids: string[] = [];
      for (let i = 0; i < count; i += FORK_PARALLELISM) {
        const batch = await Promise.allSettled(
          Array.from({ length: Math.min(FORK_PARALLELISM, count - i) }, () => startFork()),
        );
        for (const r of batch) if (r.status === "fulfilled") ids.push(r.value);
        const failed = batch.find((r): r is PromiseRejectedResult => r.status === "rejected");
        if (failed) {
          for (const forkId of inserted) await this.deps.sandboxes.delete(forkId).catch(() => false);
          throw failed.reason;
        }
      }
      this.deps.sandboxes.handOut(ids);
      return { checkpointId: source.id, sandboxIds: ids, processes: "fresh" as const };
    });
  }

  /** Deletes a checkpoint and frees the blobs nothing else references. False when absent. */
  async delete(id: string, cid: string): Promise<boolean> {
    this.sandbox(id);
    const ck = this.deps.checkpoints.get(cid);
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
      const released = [...this.deps.checkpoints.releaseDeletedForks()];
      for (const orphan of this.deps.checkpoints.orphanedCheckpoints()) {
        released.push(...this.deps.checkpoints.delete(orphan));
      }
      let removed = 0;
      const check = async (hash: string) => {
        if (!this.deps.checkpoints.isReferenced(hash) && (await this.deps.blobs.delete(hash))) removed++;
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
    const live = this.deps.checkpoints.liveBaseManifests();
    let names: string[] = [];
    try {
      names = await readdir(this.deps.snapshotsDir);
    } catch {
      return;
    }
    for (const name of names) {
      if (!live.has(name)) await removeTree(join(this.deps.snapshotsDir, name));
    }
  }

  /**
   * At start, before anything asks runsc about sandboxes: lets sandboxes run again that a crash
   * left frozen in an fs checkpoint or paused in a full one (runsc cannot talk to a frozen sandbox).
   */
  async thawInterrupted(): Promise<void> {
    for (const record of this.deps.store.listLive()) {
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
    const storing = new Map(this.deps.checkpoints.listStoring().map((ck) => [ck.id, ck]));
    for (const record of this.deps.store.listLive()) {
      const dir = dirname(this.deps.runtime.upperDir(record.id));
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        const staged = name.startsWith(STAGE_PREFIX) ? storing.get(name.slice(STAGE_PREFIX.length)) : undefined;
        if (staged && (await readPlan(join(dir, name)))) {
          storing.delete(staged.id);
          this.startIngest(staged, join(dir, name), performance.now());
        } else if (name.startsWith("checkpoint-image-") || name.startsWith(STAGE_PREFIX) || name === "upper.restore") {
          // upper.restore holds a checkpoint's tree, which a sandbox made and may nest at any depth.
          await removeTree(join(dir, name));
        }
      }
    }
    for (const lost of storing.values()) {
      this.deps.logger.warn(
        { sandboxId: lost.sandboxId, checkpointId: lost.id },
        "dropping a checkpoint whose staged copy is gone",
      );
      this.deps.checkpoints.delete(lost.id);
    }
    const removed = await this.collect();
    if (removed > 0) this.deps.logger.info({ removed }, "removed unreferenced checkpoint blobs");
  }
}
