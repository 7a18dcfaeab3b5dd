import { execFile } from "node:child_process";
import type { BigIntStats } from "node:fs";
import { lstat, open, readdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { sha256 } from "../store/blob-store.js";

const run = promisify(execFile);

/** Files are stored as chunks of this size, so equal chunks anywhere are stored once. */
export const CHUNK_BYTES = 4 * 1024 * 1024;
const XATTR_TIMEOUT_MS = 60_000;
const HASH_CONCURRENCY = 8;

export type EntryType = "file" | "dir" | "symlink" | "whiteout" | "fifo";

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

/** Where chunks go: stored (checkpoints) or only hashed (diff against "now"). */
export type ChunkSink = (chunk: Buffer) => Promise<{ hash: string; newBytes: number }>;

export const hashOnly: ChunkSink = async (chunk) => ({ hash: sha256(chunk), newBytes: 0 });

export interface BuildResult {
  entries: ManifestEntry[];
  /** Bytes the sink newly stored. */
  newBytes: number;
  /** Bytes of file content described. */
  logicalBytes: number;
}

/** Splits a file into chunks and passes each to `sink`; returns the hashes in order. */
export async function chunkFile(path: string, sink: ChunkSink): Promise<{ chunks: string[]; newBytes: number }> {
  const fh = await open(path, "r");
  try {
    const chunks: string[] = [];
    let newBytes = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(CHUNK_BYTES);
      let filled = 0;
      while (filled < CHUNK_BYTES) {
        const { bytesRead } = await fh.read(buf, filled, CHUNK_BYTES - filled, null);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      if (filled === 0) break;
      const put = await sink(buf.subarray(0, filled));
      chunks.push(put.hash);
      newBytes += put.newBytes;
      if (filled < CHUNK_BYTES) break;
    }
    return { chunks, newBytes };
  } finally {
    await fh.close();
  }
}

/**
 * Describes the overlay upper dir `root`: every file, directory, symlink, whiteout (a 0:0
 * character device) and opaque directory, with file contents chunked into `sink`. Files whose
 * path, size, mtime, ctime and inode match `previous` keep their hashes without being read.
 */
export async function buildManifest(
  root: string,
  sink: ChunkSink,
  previous?: ReadonlyMap<string, ManifestEntry>,
): Promise<BuildResult> {
  const opaque = await readOpaqueDirs(root);
  const entries: ManifestEntry[] = [];
  const toHash: Array<{ entry: ManifestEntry; abs: string }> = [];
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(join(root, rel))).sort();
    for (const name of names) {
      const path = rel === "" ? name : `${rel}/${name}`;
      const abs = join(root, path);
      const st = await lstat(abs, { bigint: true });
      const entry = baseEntry(path, st);
      if (st.isDirectory()) {
        entry.type = "dir";
        if (opaque.has(path)) entry.opaque = true;
        entries.push(entry);
        await walk(path);
        continue;
      }
      if (st.isSymbolicLink()) {
        entry.type = "symlink";
        entry.target = await readlink(abs);
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
        } else {
          toHash.push({ entry, abs });
        }
      } else {
        continue; // sockets and devices are not kept
      }
      entries.push(entry);
    }
  };
  await walk("");
  let newBytes = 0;
  let next = 0;
  const worker = async () => {
    while (next < toHash.length) {
      const job = toHash[next++] as { entry: ManifestEntry; abs: string };
      const result = await chunkFile(job.abs, sink);
      job.entry.chunks = result.chunks;
      newBytes += result.newBytes;
    }
  };
  await Promise.all(Array.from({ length: HASH_CONCURRENCY }, worker));
  const logicalBytes = entries.reduce((sum, e) => sum + (e.type === "file" ? e.size : 0), 0);
  return { entries, newBytes, logicalBytes };
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

/** Relative paths of directories under `root` marked opaque by overlayfs (one getfattr call). */
export async function readOpaqueDirs(root: string): Promise<Set<string>> {
  const result = new Set<string>();
  let stdout = "";
  try {
    ({ stdout } = await run(
      "getfattr",
      ["-R", "-P", "--absolute-names", "-e", "text", "-n", "trusted.overlay.opaque", root],
      { timeout: XATTR_TIMEOUT_MS, maxBuffer: 256 * 1024 * 1024 },
    ));
  } catch (err) {
    // getfattr exits 1 when some file lacks the attribute; its stdout still lists the others.
    stdout = (err as { stdout?: string }).stdout ?? "";
  }
  let current: string | null = null;
  for (const line of stdout.split("\n")) {
    if (line.startsWith("# file: ")) current = unescapeGetfattr(line.slice(8));
    else if (current !== null && /^trusted\.overlay\.opaque="y"$/.test(line)) {
      const rel = current === root ? "" : current.slice(root.length + 1);
      if (rel !== "") result.add(rel);
    }
  }
  return result;
}

/** getfattr writes unusual bytes of file names as backslash-octal escapes. */
function unescapeGetfattr(name: string): string {
  if (!name.includes("\\")) return name;
  const bytes: number[] = [];
  for (let i = 0; i < name.length; i++) {
    const m = /^\\([0-7]{3})/.exec(name.slice(i, i + 4));
    if (m?.[1]) {
      bytes.push(Number.parseInt(m[1], 8));
      i += 3;
    } else if (name.slice(i, i + 2) === "\\\\") {
      bytes.push(0x5c);
      i += 1;
    } else {
      bytes.push(...Buffer.from(name[i] as string, "utf8"));
    }
  }
  return Buffer.from(bytes).toString("utf8");
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

/** All chunk hashes a list of entries refers to. */
export function chunkHashes(entries: readonly ManifestEntry[], memory?: readonly MemoryFile[]): Set<string> {
  const hashes = new Set<string>();
  for (const e of entries) for (const h of e.chunks ?? []) hashes.add(h);
  for (const m of memory ?? []) for (const h of m.chunks) hashes.add(h);
  return hashes;
}
