import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { link, mkdir, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
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
import type { Runtime } from "@burrow/runtime";
import { agentPools, waitForAgent } from "../services/agent-client.js";
import type { KeyedMutex } from "../services/keyed-mutex.js";
import type { LifecycleService } from "../services/lifecycle.js";
import type { SandboxService } from "../services/sandbox-service.js";
import type { Templates } from "../services/templates.js";
import type { Transitions } from "../services/transitions.js";
import type { LocalBlobStore } from "../store/blob-store.js";
import type { CheckpointRecord, CheckpointStore } from "../store/checkpoint-store.js";
import type { SandboxRecord, SandboxStore } from "../store/sandbox-store.js";
import { buildManifest, type ChunkSink, chunkFile, chunkHashes, type Manifest, type MemoryFile } from "./manifest.js";
import { loadManifest, mergedEntries, ReadWriteLock, saveManifest } from "./manifest-io.js";
import { materialize, materializeMemory } from "./materialize.js";

const AGENT_READY_TIMEOUT_MS = 15_000;
const FROZEN_MARKER = "checkpoint-frozen";
/** Forks started at once. */
const FORK_PARALLELISM = 3;

export const MAX_FORKS = 20;

export interface CheckpointServiceDeps {
  store: SandboxStore;
  checkpoints: CheckpointStore;
  blobs: LocalBlobStore;
  runtime: Runtime;
  templates: Templates;
  transitions: Transitions;
  locks: KeyedMutex;
  lifecycle: LifecycleService;
  sandboxes: SandboxService;
  /** Where a sandbox's memory image lives while it hibernates. */
  imageDirOf: (id: string) => string;
  /** `<data>/snapshots`: materialised checkpoint trees that forks mount as a lower layer. */
  snapshotsDir: string;
  logger: Logger;
  agentsEnabled: boolean;
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

  constructor(private readonly deps: CheckpointServiceDeps) {}

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
    if (!ck) return undefined;
    const manifest = await loadManifest(this.deps.blobs, ck.manifestHash);
    return new Map(manifest.entries.map((e) => [e.path, e]));
  }

  create(id: string, options: { name?: string; mode?: CheckpointMode } = {}): Promise<CheckpointRecord> {
    const mode = options.mode ?? "fs";
    return this.deps.locks.run(id, () => this.blobLock.shared(() => this.createLocked(id, mode, options.name)));
  }

  private async createLocked(id: string, mode: CheckpointMode, name: string | undefined): Promise<CheckpointRecord> {
    const record = this.sandbox(id);
    const cid = newCheckpointId((n) => randomBytes(n));
    const started = performance.now();
    const previous = await this.previousEntries(id);
    const counter = { newBytes: 0, hashes: new Set<string>() };
    const upper = this.deps.runtime.upperDir(id);
    let pausedMs = 0;
    let built: Awaited<ReturnType<typeof buildManifest>>;
    let memory: MemoryFile[] | undefined;
    if (mode === "fs") {
      if (!["running", "standby", "hibernated", "error"].includes(record.state)) throw this.busy(record);
      // A running sandbox is frozen (cgroup freezer, well under a millisecond) so its files hold still.
      const freeze = record.state === "running";
      // The marker lets the next start thaw a sandbox a crash left frozen mid-checkpoint.
      const marker = join(dirname(upper), FROZEN_MARKER);
      const t0 = performance.now();
      if (freeze) {
        await writeFile(marker, cid);
        await this.deps.runtime.pause(id);
      }
      try {
        built = await buildManifest(upper, this.sink(counter), previous);
      } finally {
        if (freeze) {
          await this.deps.runtime.resume(id);
          await rm(marker, { force: true });
        }
        pausedMs = performance.now() - t0;
      }
    } else {
      const result = await this.fullSnapshot(record, cid, previous, counter);
      built = result.built;
      memory = result.memory;
      pausedMs = result.pausedMs;
    }
    const base = this.deps.checkpoints.base(id);
    const manifest: Manifest = { version: 1, entries: built.entries };
    if (base) manifest.base = base.manifestHash;
    if (memory) manifest.memory = memory;
    const saved = await saveManifest(this.deps.blobs, manifest);
    const hashes = new Set([...chunkHashes(built.entries, memory), ...saved.hashes]);
    if (base) {
      // A fork's checkpoint also needs its base layer's blobs.
      const baseManifest = await loadManifest(this.deps.blobs, base.manifestHash);
      for (const h of chunkHashes(baseManifest.entries)) hashes.add(h);
      hashes.add(base.manifestHash);
    }
    const ck: CheckpointRecord = {
      id: cid,
      sandboxId: id,
      name: name ?? null,
      mode,
      parentId: this.deps.checkpoints.head(id),
      manifestHash: saved.hash,
      sizeBytes: built.logicalBytes + (memory ?? []).reduce((s, m) => s + m.size, 0),
      storedBytes: counter.newBytes + saved.newBytes,
      fileCount: built.entries.length,
      pausedMs: Math.round(pausedMs),
      createdAt: new Date().toISOString(),
    };
    // Written last: before this the checkpoint does not exist, after it is complete.
    this.deps.checkpoints.insert(ck, hashes);
    this.deps.transitions.record(id, {
      type: "checkpointed",
      reason: `${mode} checkpoint ${cid}${name ? ` (${name})` : ""}: ${ck.fileCount} entries, ${ck.storedBytes} new bytes`,
      durationMs: performance.now() - started,
    });
    return ck;
  }

  private busy(record: SandboxRecord): BurrowError {
    return new BurrowError(ErrorCode.SandboxNotRunning, `sandbox ${record.id} is ${record.state}; try again shortly`, {
      details: { sandboxId: record.id, state: record.state },
    });
  }

  /**
   * Memory, processes and files: runsc checkpoint (which stops the sandbox), the file walk while
   * it is stopped, then runsc restore from the same image so the sandbox carries on. The image is
   * chunked into the blob store after the sandbox runs again.
   */
  private async fullSnapshot(
    record: SandboxRecord,
    cid: string,
    previous: Map<string, Manifest["entries"][number]> | undefined,
    counter: { newBytes: number; hashes: Set<string> },
  ) {
    const id = record.id;
    const imageDir = this.deps.imageDirOf(id);
    const staging = join(dirname(imageDir), `checkpoint-image-${cid}`);
    const upper = this.deps.runtime.upperDir(id);
    const t0 = performance.now();
    let built: Awaited<ReturnType<typeof buildManifest>>;
    let pausedMs = 0;
    try {
      if (record.state === "hibernated") {
        // Already on disk: the hibernation image is the memory image.
        built = await buildManifest(upper, this.sink(counter), previous);
        await stageImage(imageDir, staging);
      } else {
        if (record.state !== "running" && record.state !== "standby") throw this.busy(record);
        const wasStandby = record.state === "standby";
        this.deps.transitions.move(record, "hibernating", { type: "checkpointing", reason: `full checkpoint ${cid}` });
        const host = this.deps.runtime.agentEndpoint(id, record.networkIndex).host;
        try {
          await rm(imageDir, { recursive: true, force: true });
          agentPools.reset(host);
          await this.deps.runtime.checkpoint(id, record.networkIndex, imageDir);
        } catch (err) {
          await this.recoverAfterFailedCheckpoint(record, wasStandby, err);
          throw err;
        }
        try {
          built = await buildManifest(upper, this.sink(counter), previous);
          await stageImage(imageDir, staging);
          agentPools.reset(host);
          await this.deps.runtime.restore({ ...this.specOf(record), imageDir });
          if (this.deps.agentsEnabled) {
            await waitForAgent(
              this.deps.runtime.agentEndpoint(id, record.networkIndex),
              record.agentToken,
              AGENT_READY_TIMEOUT_MS,
            );
          }
        } catch (err) {
          // The image is still in the hibernation directory: the sandbox can be woken from it.
          await this.deps.runtime.stop(id).catch(() => undefined);
          this.deps.transitions.move(record, "hibernated", {
            type: "checkpoint_failed",
            reason: `full checkpoint ${cid} failed after saving memory; the sandbox is hibernated: ${errorMessage(err)}`,
          });
          throw err;
        }
        await rm(imageDir, { recursive: true, force: true });
        pausedMs = performance.now() - t0;
        this.deps.transitions.move(record, "running", {
          reason: `resumed after full checkpoint ${cid}`,
          durationMs: pausedMs,
        });
        if (wasStandby) {
          await this.deps.runtime.pause(id);
          this.deps.transitions.move(record, "standby", { reason: `back to standby after checkpoint ${cid}` });
        }
      }
      const memory: MemoryFile[] = [];
      for (const name of (await readdir(staging)).sort()) {
        const path = join(staging, name);
        const { chunks } = await chunkFile(path, this.sink(counter));
        memory.push({ name, size: (await stat(path)).size, chunks });
      }
      return { built, memory, pausedMs };
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }

  private async recoverAfterFailedCheckpoint(record: SandboxRecord, wasStandby: boolean, err: unknown) {
    await rm(this.deps.imageDirOf(record.id), { recursive: true, force: true }).catch(() => undefined);
    const status = await this.deps.runtime.status(record.id).catch(() => null);
    if (status && (status.status === "running" || status.status === "paused")) {
      this.deps.transitions.move(record, wasStandby ? "standby" : "running", {
        type: "checkpoint_failed",
        reason: `full checkpoint failed; the sandbox kept running: ${errorMessage(err)}`,
      });
      if (wasStandby) await this.deps.runtime.pause(record.id).catch(() => undefined);
      return;
    }
    this.deps.transitions.move(record, "error", {
      type: "checkpoint_failed",
      reason: "full checkpoint failed and the sandbox stopped",
      error: `checkpoint failed: ${errorMessage(err)}; the files are kept — restart or restore the sandbox`,
    });
  }

  private specOf(record: SandboxRecord) {
    return {
      id: record.id,
      networkIndex: record.networkIndex,
      templateRootfs: this.deps.templates.rootfs(record.template),
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
      const ck = this.get(id, cid);
      if (record.state === "starting" || record.state === "waking" || record.state === "hibernating") {
        throw this.busy(record);
      }
      const started = performance.now();
      const manifest = await loadManifest(this.deps.blobs, ck.manifestHash);
      const upper = this.deps.runtime.upperDir(id);
      const newUpper = `${upper}.restore`;
      const imageDir = this.deps.imageDirOf(id);
      // "restarting": if the server dies mid-restore, reconcile keeps the files and reports error.
      this.deps.transitions.move(record, "starting", { type: "restarting", reason: `restoring checkpoint ${cid}` });
      try {
        await rm(newUpper, { recursive: true, force: true });
        await materialize(manifest.entries, newUpper, this.deps.blobs);
        agentPools.reset(this.deps.runtime.agentEndpoint(id, record.networkIndex).host);
        await this.deps.runtime.stop(id);
        await rm(imageDir, { recursive: true, force: true });
        await this.deps.runtime.replaceUpper(id, newUpper);
        if (ck.mode === "full" && manifest.memory) {
          await materializeMemory(manifest.memory, imageDir, this.deps.blobs);
          await this.deps.runtime.restore({ ...this.specOf(record), imageDir });
          if (this.deps.agentsEnabled) {
            await waitForAgent(
              this.deps.runtime.agentEndpoint(id, record.networkIndex),
              record.agentToken,
              AGENT_READY_TIMEOUT_MS,
            );
          }
          await rm(imageDir, { recursive: true, force: true });
        } else {
          await this.deps.runtime.restart(this.specOf(record));
          if (this.deps.agentsEnabled) await this.deps.lifecycle.initAgent(record);
        }
      } catch (err) {
        await rm(newUpper, { recursive: true, force: true }).catch(() => undefined);
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
   */
  async fork(id: string, cid: string, count: number): Promise<ForkResponse> {
    const source = cid === "now" ? await this.create(id, { name: "fork point" }) : this.get(id, cid);
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
          await rm(temp, { recursive: true, force: true });
          if (!existsSync(snapshot)) throw err;
        }
      }
      const startFork = async () => {
        const fork = await this.deps.sandboxes.createFresh(
          sandbox.template,
          sandbox.resources,
          sandbox.lifecycle,
          { ...sandbox.metadata },
          sandbox.env,
          null,
          {
            extraLower: snapshot,
            // Written with the sandbox row, before the runtime mounts the snapshot.
            onInserted: (forkId) =>
              this.deps.checkpoints.setBase(forkId, { checkpointId: source.id, manifestHash: saved.hash }, hashes),
          },
        );
        this.deps.transitions.record(fork.id, { type: "forked", reason: `forked from ${id} checkpoint ${source.id}` });
        return fork.id;
      };
      // A few at a time: each is a runsc start, and this host has few cores.
      // If any fork fails, the ones this call made are deleted again: all forks or none.
      const ids: string[] = [];
      for (let i = 0; i < count; i += FORK_PARALLELISM) {
        const batch = await Promise.allSettled(
          Array.from({ length: Math.min(FORK_PARALLELISM, count - i) }, () => startFork()),
        );
        for (const r of batch) if (r.status === "fulfilled") ids.push(r.value);
        const failed = batch.find((r): r is PromiseRejectedResult => r.status === "rejected");
        if (failed) {
          for (const forkId of ids) await this.deps.sandboxes.delete(forkId).catch(() => false);
          throw failed.reason;
        }
      }
      return { checkpointId: source.id, sandboxIds: ids, processes: "fresh" as const };
    });
  }

  /** Deletes a checkpoint and frees the blobs nothing else references. False when absent. */
  async delete(id: string, cid: string): Promise<boolean> {
    this.sandbox(id);
    const ck = this.deps.checkpoints.get(cid);
    if (!ck || ck.sandboxId !== id) return false;
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
      if (!live.has(name)) await rm(join(this.deps.snapshotsDir, name), { recursive: true, force: true });
    }
  }

  /**
   * At start, before anything asks runsc about sandboxes: thaws sandboxes a crash left frozen
   * in the middle of an fs checkpoint (runsc cannot talk to a frozen sandbox).
   */
  async thawInterrupted(): Promise<void> {
    for (const record of this.deps.store.listLive()) {
      const marker = join(dirname(this.deps.runtime.upperDir(record.id)), FROZEN_MARKER);
      if (!existsSync(marker)) continue;
      if (record.state !== "standby") {
        await this.deps.runtime
          .resume(record.id)
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

  /** At start: drop temp files of interrupted writes, then collect unreferenced blobs. */
  async reconcile(): Promise<void> {
    await this.deps.blobs.cleanup();
    await mkdir(this.deps.snapshotsDir, { recursive: true });
    for (const record of this.deps.store.listLive()) {
      const dir = dirname(this.deps.runtime.upperDir(record.id));
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        if (name.startsWith("checkpoint-image-") || name === "upper.restore") {
          await rm(join(dir, name), { recursive: true, force: true });
        }
      }
    }
    const removed = await this.collect();
    if (removed > 0) this.deps.logger.info({ removed }, "removed unreferenced checkpoint blobs");
  }
}

/** Hard-links the image files into `staging` (instant), so they outlive the restore. */
async function stageImage(imageDir: string, staging: string): Promise<void> {
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true, mode: 0o700 });
  for (const name of await readdir(imageDir)) await link(join(imageDir, name), join(staging, name));
}
