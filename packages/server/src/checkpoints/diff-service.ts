import { BurrowError, type DiffEntry, type DiffResponse, ErrorCode } from "@burrow/core";
import {
  buildManifest,
  chunkHandle,
  hashOnly,
  lstatBeneath,
  type ManifestEntry,
  mergeLayers,
  openBeneath,
  type Runtime,
  readFileBeneath,
  readlinkBeneath,
  splitRelative,
} from "@burrow/runtime";
import type { BlobStore } from "../store/blob-store.js";
import type { CheckpointStore } from "../store/checkpoint-store.js";
import type { SandboxStore } from "../store/sandbox-store.js";
import type { Catalog } from "../templates/catalog.js";
import { diffViews, type TemplateLayer, unifiedDiff } from "./diff.js";
import { loadManifest, mergedEntries } from "./manifest-io.js";
import type { CheckpointService } from "./service.js";

/** Largest file (bytes) a unified diff is made of. */
const MAX_TEXT_DIFF_BYTES = 8 * 1024 * 1024;

export interface DiffDeps {
  store: SandboxStore;
  checkpoints: CheckpointStore;
  service: CheckpointService;
  blobs: BlobStore;
  runtime: Runtime;
  templates: Catalog;
}

/** One side of a diff: its merged entries and how to read a file's bytes. */
interface Side {
  entries: ManifestEntry[];
  /** Where the sandbox's own layer lives on the host ("now" only: its files were hashed, not stored). */
  upperDir?: string;
}

function fileType(st: { isDirectory(): boolean; isSymbolicLink(): boolean; isFile(): boolean }): DiffEntry["type"] {
  if (st.isDirectory()) return "dir";
  if (st.isSymbolicLink()) return "symlink";
  return st.isFile() ? "file" : "other";
}

/** The template's files, read below its rootfs without following any of its links. */
function templateLayer(root: string): TemplateLayer {
  return {
    async stat(path) {
      const st = await lstatBeneath(root, path);
      return st ? { type: fileType(st), size: st.isFile() ? Number(st.size) : 0 } : null;
    },
    async chunks(path) {
      const fh = await openBeneath(root, path, "file");
      if (!fh) return [];
      try {
        return (await chunkHandle(fh, hashOnly)).chunks;
      } finally {
        await fh.close();
      }
    },
    readlink: async (path) => (await readlinkBeneath(root, path)) ?? "",
  };
}

/** Files added, modified and removed between two checkpoints of a sandbox, or a checkpoint and now. */
export class DiffService {
  constructor(private readonly deps: DiffDeps) {}

  private async side(id: string, ref: string): Promise<Side> {
    if (ref !== "now") {
      const ck = await this.deps.service.stored(id, ref);
      return { entries: await mergedEntries(this.deps.blobs, await loadManifest(this.deps.blobs, ck.manifestHash)) };
    }
    const head = await this.deps.checkpoints.head(id);
    const headCk = head === null ? undefined : await this.deps.service.stored(id, head);
    const previous = headCk
      ? new Map((await loadManifest(this.deps.blobs, headCk.manifestHash)).entries.map((e) => [e.path, e]))
      : undefined;
    const upperDir = this.deps.runtime.upperDir(id);
    const { entries } = await buildManifest(upperDir, hashOnly, previous);
    const base = await this.deps.checkpoints.base(id);
    if (!base) return { entries, upperDir };
    const baseEntries = (await loadManifest(this.deps.blobs, base.manifestHash)).entries;
    return { entries: mergeLayers(baseEntries, entries), upperDir };
  }

  async diff(id: string, from: string, to: string, path?: string): Promise<DiffResponse> {
    const record = await this.deps.store.get(id);
    if (!record || record.state === "deleted") {
      throw new BurrowError(ErrorCode.SandboxNotFound, `sandbox ${id} not found`, { details: { sandboxId: id } });
    }
    if (from === "now") throw new BurrowError(ErrorCode.BadRequest, "'from' must be a checkpoint id; 'to' may be now");
    // Files the sandbox never changed are read from its template's bottom layer.
    const templateRoot = (await this.deps.templates.layersOf(record)).at(-1) ?? "/nonexistent";
    const template = templateLayer(templateRoot);
    const a = await this.side(id, from);
    const b = await this.side(id, to);
    const entries = await diffViews(a.entries, b.entries, template);
    const response: DiffResponse = { from, to, entries };
    if (path !== undefined) {
      const rel = path.replace(/^\/+/, "");
      if (splitRelative(rel) === null) {
        throw new BurrowError(ErrorCode.BadRequest, "'path' must be a file path without '.', '..' or empty parts");
      }
      const known = (list: readonly { path: string }[]) => list.some((e) => e.path === rel);
      if (!entries.some((e) => e.path === `/${rel}`) && !known(a.entries) && !known(b.entries)) {
        throw new BurrowError(ErrorCode.NotFound, `/${rel} did not change between ${from} and ${to}`, {
          details: { path: `/${rel}` },
        });
      }
      const oldText = await this.text(a, rel, template, templateRoot);
      const newText = await this.text(b, rel, template, templateRoot);
      try {
        response.unified = unifiedDiff(oldText, newText, `a/${rel}`, `b/${rel}`);
      } catch (err) {
        throw new BurrowError(ErrorCode.BadRequest, (err as Error).message);
      }
    }
    return response;
  }

  /** The text of `rel` in one side ("" when absent or not a regular file). */
  private async text(side: Side, rel: string, template: TemplateLayer, templateRoot: string): Promise<string> {
    const entry = side.entries.find((e) => e.path === rel);
    let data: Buffer;
    if (entry) {
      if (entry.type !== "file") return "";
      if (entry.size > MAX_TEXT_DIFF_BYTES) throw tooLarge(rel, entry.size);
      data =
        side.upperDir !== undefined
          ? await this.readLayerFile(side, entry)
          : Buffer.concat(await Promise.all((entry.chunks ?? []).map((h) => this.deps.blobs.get(h))));
    } else {
      const hidden = side.entries.some((e) => rel.startsWith(`${e.path}/`) && (e.type !== "dir" || e.opaque === true));
      const st = hidden ? null : await template.stat(rel);
      if (st?.type !== "file") return "";
      if (st.size > MAX_TEXT_DIFF_BYTES) throw tooLarge(rel, st.size);
      const read = await readFileBeneath(templateRoot, rel, MAX_TEXT_DIFF_BYTES);
      if (read === null) return "";
      data = read;
    }
    if (data.includes(0)) throw new BurrowError(ErrorCode.BadRequest, `/${rel} is binary; no text diff`);
    return data.toString("utf8");
  }

  /**
   * "now": files of the sandbox's own layer are on disk (read below the upper dir, never through
   * a link the sandbox made); base-layer files and files gone since the scan come from the blob store.
   */
  private async readLayerFile(side: Side, entry: ManifestEntry): Promise<Buffer> {
    const data = await readFileBeneath(side.upperDir as string, entry.path, MAX_TEXT_DIFF_BYTES);
    if (data !== null && data.length > MAX_TEXT_DIFF_BYTES) throw tooLarge(entry.path, data.length);
    if (data !== null) return data;
    try {
      return Buffer.concat(await Promise.all((entry.chunks ?? []).map((h) => this.deps.blobs.get(h))));
    } catch {
      return Buffer.alloc(0); // removed after the scan and only hashed, never stored: absent now
    }
  }
}

function tooLarge(rel: string, size: number): BurrowError {
  return new BurrowError(
    ErrorCode.BadRequest,
    `/${rel} is ${size} bytes; text diffs are limited to ${MAX_TEXT_DIFF_BYTES}`,
  );
}
