import { gunzipSync, gzipSync } from "node:zlib";
import { CHUNK_BYTES, type ManifestEntry, type MemoryFile, mergeLayers } from "@burrow/runtime";
import type { BlobStore } from "../store/blob-store.js";

interface ManifestIndex {
  format: "burrow-manifest-v1+gzip";
  chunks: string[];
}

/** Stores a manifest (gzipped JSON, chunked) and returns its hash and every blob it used. */
export async function saveManifest(
  blobs: BlobStore,
  manifest: Manifest,
): Promise<{ hash: string; hashes: string[]; newBytes: number }> {
  const packed = gzipSync(Buffer.from(JSON.stringify(manifest)));
  const chunks: string[] = [];
  let newBytes = 0;
  for (let off = 0; off < packed.length || off === 0; off += CHUNK_BYTES) {
    const put = await blobs.put(packed.subarray(off, off + CHUNK_BYTES));
    chunks.push(put.hash);
    newBytes += put.newBytes;
    if (packed.length === 0) break;
  }
  const index: ManifestIndex = { format: "burrow-manifest-v1+gzip", chunks };
  const put = await blobs.put(Buffer.from(JSON.stringify(index)));
  return { hash: put.hash, hashes: [put.hash, ...chunks], newBytes: newBytes + put.newBytes };
}

export async function loadManifest(blobs: BlobStore, hash: string): Promise<Manifest> {
  const index = JSON.parse((await blobs.get(hash)).toString("utf8")) as ManifestIndex;
  const parts = await Promise.all(index.chunks.map((h) => blobs.get(h)));
  return JSON.parse(gunzipSync(Buffer.concat(parts)).toString("utf8")) as Manifest;
}

/** The sandbox's whole file view a manifest describes: its layer over its fork base, if any. */
export async function mergedEntries(blobs: BlobStore, manifest: Manifest): Promise<ManifestEntry[]> {
  if (manifest.base === undefined) return manifest.entries;
  const base = await loadManifest(blobs, manifest.base);
  return mergeLayers(base.entries, manifest.entries);
}

/** An async readers–writer lock: checkpoints share it, garbage collection takes it alone. */
export class ReadWriteLock {
  private readers = 0;
  private writer: Promise<void> | null = null;
  private readonly waiters: Array<() => void> = [];

  async shared<T>(fn: () => Promise<T>): Promise<T> {
    while (this.writer) await this.writer;
    this.readers++;
    try {
      return await fn();
    } finally {
      this.readers--;
      if (this.readers === 0) for (const w of this.waiters.splice(0)) w();
    }
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.writer) await this.writer;
    let release = () => {};
    this.writer = new Promise<void>((r) => {
      release = r;
    });
    try {
      while (this.readers > 0) await new Promise<void>((r) => this.waiters.push(r));
      return await fn();
    } finally {
      this.writer = null;
      release();
    }
  }
}

/** A checkpoint as stored: its layer's entries, the base it lies on, its memory image. */
export interface Manifest {
  version: 1;
  /** The sandbox's own layer. */
  entries: ManifestEntry[];
  /**
   * For a fork: the manifest (merged, relative to the template) of the checkpoint it was forked
   * from, which lies under `entries` as a read-only layer.
   */
  base?: string;
  /** `full` checkpoints: the runsc checkpoint image files. */
  memory?: MemoryFile[];
}

/** All chunk hashes a list of entries refers to. */
export function chunkHashes(entries: readonly ManifestEntry[], memory?: readonly MemoryFile[]): Set<string> {
  const hashes = new Set<string>();
  for (const e of entries) for (const h of e.chunks ?? []) hashes.add(h);
  for (const m of memory ?? []) for (const h of m.chunks) hashes.add(h);
  return hashes;
}
