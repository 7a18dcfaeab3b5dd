import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import type { BigIntStats } from "node:fs";
import { constants } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { promisify } from "node:util";
import { fdPath, openBeneath, procFdPath, type WalkEntry, walkTree } from "./safe-fs.js";

const run = promisify(execFile);

/** Files are stored as chunks of this size, so equal chunks anywhere are stored once. */
export const CHUNK_BYTES = 4 * 1024 * 1024;
const XATTR_TIMEOUT_MS = 60_000;
const HASH_CONCURRENCY = 8;

export type EntryType = "file" | "dir" | "symlink" | "whiteout" | "fifo";

/**
 * Layers as overlayfs keeps them on the host: scanning an upper dir into entries, merging layers
 * as overlayfs shows them. The server stores these entries; this module knows whiteouts.
 */

/** One path of a sandbox's upper layer (paths are relative, without a leading slash). */
export interface ManifestEntry {
  path: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  /** Modification time in nanoseconds since the epoch, as a decimal string. */
  mtimeNs: string;
  size: number;
  /** sha256 of each CHUNK_BYTES piece of a file's content, in order. */
  chunks?: string[];
  /** Target of a symlink. */
  target?: string;
  /** Overlayfs `trusted.overlay.opaque`: the directory hides everything below it in lower layers. */
  opaque?: boolean;
  /** Inode and ctime when read, to reuse hashes of unchanged files in the next checkpoint. */
  ino?: string;
  ctimeNs?: string;
}

export interface MemoryFile {
  name: string;
  size: number;
  chunks: string[];
}

/** Where chunks go: stored (checkpoints) or only hashed (diff against "now"). */
export type ChunkSink = (chunk: Buffer) => Promise<{ hash: string; newBytes: number }>;

export const hashOnly: ChunkSink = async (chunk) => ({
  hash: createHash("sha256").update(chunk).digest("hex"),
  newBytes: 0,
});

export interface BuildResult {
  entries: ManifestEntry[];
  /** Bytes the sink newly stored. */
  newBytes: number;
  /** Bytes of file content described. */
  logicalBytes: number;
}

/**
 * Reads up to CHUNK_BYTES from `fh` into a buffer sized for what the file holds (a small file
 * gets a small buffer, not 4 MiB), growing it if the file turns out longer.
 */
async function readChunk(fh: FileHandle, expected: number): Promise<Buffer> {
  let buf = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, Math.max(expected, 0) + 1));
  let filled = 0;
  for (;;) {
    if (filled === buf.length) {
      if (buf.length === CHUNK_BYTES) break;
      const bigger = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, buf.length * 2));
      buf.copy(bigger, 0, 0, filled);
      buf = bigger;
    }
    const { bytesRead } = await fh.read(buf, filled, buf.length - filled, null);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buf.subarray(0, filled);
}

/** Splits an open file into chunks and passes each to `sink`; returns the hashes in order. */
export async function chunkHandle(fh: FileHandle, sink: ChunkSink): Promise<{ chunks: string[]; newBytes: number }> {
  let remaining = (await fh.stat()).size;
  const chunks: string[] = [];
  let newBytes = 0;
  for (;;) {
    const chunk = await readChunk(fh, Math.min(remaining, CHUNK_BYTES));
    if (chunk.length === 0) break;
    const put = await sink(chunk);
    chunks.push(put.hash);
    newBytes += put.newBytes;
    remaining -= chunk.length;
    if (chunk.length < CHUNK_BYTES) break;
  }
  return { chunks, newBytes };
}

/** Splits a file the server owns (a memory image) into chunks; see chunkHandle. */
export async function chunkFile(path: string, sink: ChunkSink): Promise<{ chunks: string[]; newBytes: number }> {
  const fh = await open(path, "r");
  try {
    return await chunkHandle(fh, sink);
  } finally {
    await fh.close();
  }
}

/** A file whose content must still be chunked; it is read as `entry.path` below `root`. */
export interface PendingFile {
  entry: ManifestEntry;
  root: string;
}

export interface ScanResult {
  entries: ManifestEntry[];
  /** Files that changed since `previous` (or are new): their chunks are not known yet. */
  pending: PendingFile[];
}

/**
 * Describes the overlay upper dir `root` without reading file contents: every file, directory,
 * symlink, whiteout (a 0:0 character device) and opaque directory. Files whose path, size,
 * mtime, ctime and inode match `previous` keep their hashes; the others are returned as pending.
 * The walk is fd-relative and follows no link (see walkTree): any depth works, and entries that
 * vanish while a live sandbox changes them are left out.
 */
export async function scanUpper(root: string, previous?: ReadonlyMap<string, ManifestEntry>): Promise<ScanResult> {
  const opaque = new OpaqueReader();
  let found: WalkEntry[];
  try {
    found = await walkTree(root, { onDir: (path, dir) => (path === "" ? Promise.resolve() : opaque.add(path, dir)) });
    await opaque.flush();
  } finally {
    await opaque.close();
  }
  const entries: ManifestEntry[] = [];
  for (const { path, stat: st, target } of found) {
    const entry = baseEntry(path, st);
    if (st.isDirectory()) {
      entry.type = "dir";
      if (opaque.marked.has(path)) entry.opaque = true;
    } else if (st.isSymbolicLink()) {
      entry.type = "symlink";
      entry.target = target ?? "";
    } else if (st.isCharacterDevice() && st.rdev === 0n) {
      entry.type = "whiteout";
      entry.size = 0;
    } else if (st.isFIFO()) {
      entry.type = "fifo";
      entry.size = 0;
    } else if (st.isFile()) {
      const prev = previous?.get(path);
      if (
        prev?.type === "file" &&
        prev.chunks &&
        prev.size === entry.size &&
        prev.mtimeNs === entry.mtimeNs &&
        prev.ctimeNs === entry.ctimeNs &&
        prev.ino === entry.ino
      ) {
        entry.chunks = prev.chunks;
      }
    } else {
      continue; // sockets and devices are not kept
    }
    entries.push(entry);
  }
  const pending = entries.filter((e) => e.type === "file" && e.chunks === undefined).map((entry) => ({ entry, root }));
  return { entries, pending };
}

/**
 * Chunks the pending files into `sink`, filling in their entries' hashes. A file that vanished or
 * was replaced by something else since the scan keeps no chunks; returns the paths of those.
 */
export async function chunkPending(
  pending: PendingFile[],
  sink: ChunkSink,
): Promise<{ newBytes: number; gone: Set<string> }> {
  let newBytes = 0;
  const gone = new Set<string>();
  let next = 0;
  const worker = async () => {
    while (next < pending.length) {
      const job = pending[next++] as PendingFile;
      const fh = await openBeneath(job.root, job.entry.path, "file");
      if (!fh) {
        gone.add(job.entry.path);
        continue;
      }
      try {
        const result = await chunkHandle(fh, sink);
        job.entry.chunks = result.chunks;
        newBytes += result.newBytes;
      } finally {
        await fh.close();
      }
    }
  };
  await Promise.all(Array.from({ length: HASH_CONCURRENCY }, worker));
  return { newBytes, gone };
}

export function logicalBytesOf(entries: ManifestEntry[]): number {
  return entries.reduce((sum, e) => sum + (e.type === "file" ? e.size : 0), 0);
}

/** scanUpper and chunkPending in one go, reading changed files in place (files gone meanwhile are left out). */
export async function buildManifest(
  root: string,
  sink: ChunkSink,
  previous?: ReadonlyMap<string, ManifestEntry>,
): Promise<BuildResult> {
  const scan = await scanUpper(root, previous);
  const { newBytes, gone } = await chunkPending(scan.pending, sink);
  const entries = gone.size === 0 ? scan.entries : scan.entries.filter((e) => !gone.has(e.path));
  return { entries, newBytes, logicalBytes: logicalBytesOf(entries) };
}

function baseEntry(path: string, st: BigIntStats): ManifestEntry {
  return {
    path,
    type: "file",
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtimeNs: st.mtimeNs.toString(),
    size: Number(st.size),
    ino: st.ino.toString(),
    ctimeNs: st.ctimeNs.toString(),
  };
}

/** Directories getfattr is asked about per call. */
const XATTR_BATCH = 256;

/**
 * Finds the directories overlayfs marked opaque (`trusted.overlay.opaque`). Each directory is
 * handed to getfattr as `/proc/<pid>/fd/<n>` of a descriptor opened from the walk's own (no link
 * is followed, any depth works), a few hundred per call.
 */
class OpaqueReader {
  readonly marked = new Set<string>();
  private batch: { path: string; fh: FileHandle }[] = [];

  async add(path: string, dirFd: number): Promise<void> {
    let fh: FileHandle;
    try {
      fh = await open(fdPath(dirFd), constants.O_RDONLY | constants.O_DIRECTORY);
    } catch {
      return;
    }
    this.batch.push({ path, fh });
    if (this.batch.length >= XATTR_BATCH) await this.flush();
  }

  async flush(): Promise<void> {
    const batch = this.batch;
    this.batch = [];
    if (batch.length === 0) return;
    try {
      const byArg = new Map(batch.map((b) => [procFdPath(b.fh.fd), b.path]));
      let stdout = "";
      try {
        ({ stdout } = await run(
          "getfattr",
          ["--absolute-names", "-e", "text", "-n", "trusted.overlay.opaque", "--", ...byArg.keys()],
          { timeout: XATTR_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 },
        ));
      } catch (err) {
        // getfattr exits 1 when some directory lacks the attribute; its stdout still lists the others.
        stdout = (err as { stdout?: string }).stdout ?? "";
      }
      let current: string | undefined;
      for (const line of stdout.split("\n")) {
        if (line.startsWith("# file: ")) current = byArg.get(line.slice(8));
        else if (current !== undefined && /^trusted\.overlay\.opaque="y"$/.test(line)) this.marked.add(current);
      }
    } finally {
      await Promise.all(batch.map((b) => b.fh.close()));
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.batch.map((b) => b.fh.close()));
    this.batch = [];
  }
}

/**
 * The layer `upper` on top of `base` as overlayfs shows it: upper entries replace base ones, a
 * whiteout removes the path and everything below, an opaque directory or a non-directory hides
 * what the base had below it. Whiteouts are kept (they also hide template files).
 */
export function mergeLayers(base: readonly ManifestEntry[], upper: readonly ManifestEntry[]): ManifestEntry[] {
  const merged = new Map<string, ManifestEntry>();
  for (const e of base) merged.set(e.path, e);
  const dropBelow = (path: string) => {
    const prefix = `${path}/`;
    for (const key of merged.keys()) if (key.startsWith(prefix)) merged.delete(key);
  };
  for (const e of [...upper].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    if (e.type !== "dir" || e.opaque) dropBelow(e.path);
    const below = merged.get(e.path);
    // A directory replacing a non-directory of the base hides the base's (absent) children anyway.
    merged.set(e.path, below?.type === "dir" && e.type === "dir" && !e.opaque ? { ...e } : e);
  }
  return [...merged.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
