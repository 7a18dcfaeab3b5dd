import { readdir, rename } from "node:fs/promises";
import { join } from "node:path";
import { BurrowError, ErrorCode, parseTemplateRef, type TemplateRef, type TemplateVersionInfo } from "@burrow/core";
import { materialize, materializeMemory, removeTree } from "@burrow/runtime";
import { loadManifest } from "../checkpoints/manifest-io.js";
import type { CheckpointService } from "../checkpoints/service.js";
import type { BlobStore } from "../store/blob-store.js";
import type { CheckpointRecord, CheckpointStore } from "../store/checkpoint-store.js";
import type { SandboxRecord, SandboxStore } from "../store/sandbox-store.js";
import type { VersionRow } from "../store/template-store.js";
import { type Catalog, newTemplateVersionId } from "./catalog.js";
import type { ResolvedTemplate } from "./contract.js";

export interface SnapshotTemplatesDeps {
  store: SandboxStore;
  checkpoints: CheckpointService;
  checkpointStore: CheckpointStore;
  blobs: BlobStore;
  catalog: Catalog;
  /** `<data>/template-snapshots`: one directory per snapshot version (image/ and upper/). */
  root: string;
  /** How many volumes a sandbox mounts (its memory image would carry those mounts). */
  volumeCount?: (sandboxId: string) => Promise<number>;
}

/**
 * Snapshot templates: a version that carries a sandbox's files *and* memory. Made from a full
 * checkpoint of a running sandbox (taken now, or one named), it keeps the checkpoint's memory
 * image and the sandbox's own files beside the source's template layers; a sandbox created from
 * it is restored from that image into a new identity (runtime `restoreAsNew`), so the processes
 * the source had started are already running.
 */
export class SnapshotTemplates {
  constructor(private readonly deps: SnapshotTemplatesDeps) {}

  /** Where a snapshot version keeps its memory image (`image/`) and files (`upper/`). */
  dirOf(versionId: string): string {
    return join(this.deps.root, versionId);
  }

  /** The memory image directory of a snapshot version (the catalog's `snapshotDirOf`). */
  imageDirOf(version: VersionRow): string | undefined {
    return version.snapshot === undefined ? undefined : join(this.dirOf(version.id), "image");
  }

  /** Removes the directories of snapshot versions that no longer exist (after a delete, and at start). */
  async collect(): Promise<void> {
    const names = await readdir(this.deps.root).catch(() => [] as string[]);
    for (const name of names) {
      const id = name.replace(/\.tmp$/, "");
      if (name.endsWith(".tmp") || (await this.deps.catalog.version(id)) === undefined)
        await removeTree(join(this.deps.root, name));
    }
  }

  async fromSandbox(nameAndTag: string, sandboxId: string, checkpointId?: string): Promise<TemplateVersionInfo> {
    const ref = parseTemplateRef(nameAndTag);
    if (!ref) throw invalid("name", `'${nameAndTag}' is not a valid name[:tag]`);
    const record = await this.deps.store.get(sandboxId);
    if (!record || record.state === "deleted" || record.state === "deleting" || record.pool !== null) {
      throw new BurrowError(ErrorCode.SandboxNotFound, `sandbox ${sandboxId} not found`, { details: { sandboxId } });
    }
    const source = record.templateVersion ? await this.deps.catalog.version(record.templateVersion) : undefined;
    const sourceRow = record.templateVersion ? await this.deps.catalog.get(source?.templateName ?? "") : undefined;
    const sourceLayers = sourceRow?.versions.find((v) => v.id === record.templateVersion)?.layers;
    if (!source || !sourceLayers) {
      throw invalid("sandboxId", `sandbox ${sandboxId} was created before template versions; it cannot be snapshotted`);
    }
    if (((await this.deps.volumeCount?.(sandboxId)) ?? 0) > 0) {
      throw invalid("sandboxId", `sandbox ${sandboxId} mounts volumes; a snapshot template cannot carry volume mounts`);
    }
    if ((await this.deps.checkpointStore.base(sandboxId)) !== undefined) {
      throw invalid("sandboxId", `sandbox ${sandboxId} is a fork; snapshots of forks are not supported yet`);
    }
    if (checkpointId !== undefined) {
      const named = await this.deps.checkpoints.get(sandboxId, checkpointId);
      return this.fromCheckpoint(ref, record, named, sourceLayers, source, true);
    }
    // A checkpoint of its own, taken now: once its files and memory are copied into the
    // template, it is deleted, so the sandbox's checkpoint list is left as it was.
    const ck = await this.deps.checkpoints.create(sandboxId, {
      mode: "full",
      name: `snapshot template ${ref.name}:${ref.tag}`,
    });
    try {
      return await this.fromCheckpoint(ref, record, ck, sourceLayers, source, false);
    } finally {
      await this.deps.checkpoints.delete(sandboxId, ck.id).catch(() => false);
    }
  }

  private async fromCheckpoint(
    ref: TemplateRef,
    record: SandboxRecord,
    ck: CheckpointRecord,
    sourceLayers: string[],
    source: ResolvedTemplate,
    /** Whether the checkpoint stays (one the caller named) or is deleted after this. */
    kept: boolean,
  ): Promise<TemplateVersionInfo> {
    const sandboxId = record.id;
    const stored = await this.deps.checkpoints.stored(sandboxId, ck.id);
    if (stored.mode !== "full") {
      throw invalid(
        "checkpointId",
        `checkpoint ${ck.id} is an fs checkpoint; a snapshot template needs memory (mode full)`,
      );
    }
    const manifest = await loadManifest(this.deps.blobs, stored.manifestHash);
    if (!manifest.memory) throw invalid("checkpointId", `checkpoint ${ck.id} holds no memory image`);
    const versionId = newTemplateVersionId();
    const dir = this.dirOf(versionId);
    const temp = `${dir}.tmp`;
    try {
      await materialize(manifest.entries, join(temp, "upper"), this.deps.blobs);
      await materializeMemory(manifest.memory, join(temp, "image"), this.deps.blobs);
      await rename(temp, dir);
    } catch (err) {
      await removeTree(temp);
      throw err;
    }
    const memoryBytes = manifest.memory.reduce((sum, f) => sum + f.size, 0);
    await this.deps.catalog.addVersion(ref.name, sourceLayers, source.config, {
      id: versionId,
      source: kept ? `sandbox ${sandboxId} checkpoint ${ck.id}` : `sandbox ${sandboxId}`,
      snapshot: {
        sourceSandboxId: sandboxId,
        ...(kept ? { sourceCheckpointId: ck.id } : {}),
        memoryBytes,
        resources: record.resources,
      },
    });
    await this.deps.catalog.tag(ref.name, ref.tag, versionId);
    const info = (await this.deps.catalog.get(ref.name))?.versions.find((v) => v.id === versionId);
    if (!info) throw new BurrowError(ErrorCode.Internal, `snapshot version ${versionId} vanished`);
    return info;
  }
}

function invalid(field: string, message: string): BurrowError {
  return new BurrowError(ErrorCode.ValidationFailed, message, { details: { field } });
}
