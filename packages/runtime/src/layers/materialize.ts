import { execFile } from "node:child_process";
import { constants } from "node:fs";
import { chmod, lchown, link, lstat, lutimes, mkdir, open, rm, symlink } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { ManifestEntry, MemoryFile } from "./entries.js";
import { DirCursor, fdPath, openDirectory, procFdPath } from "./safe-fs.js";

/** Where a layer's file contents come from: chunks by hash (the server's blob store). */
export interface ChunkSource {
  get(hash: string): Promise<Buffer>;
}

const run = promisify(execFile);
const TOOL_TIMEOUT_MS = 30_000;

/** Writes a chunked file from the blob store. */
export async function writeChunks(path: string, chunks: readonly string[], blobs: ChunkSource, mode = 0o600) {
  const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, mode);
  try {
    for (const hash of chunks) {
      const data = await blobs.get(hash);
      await fh.write(data, 0, data.length);
    }
  } finally {
    await fh.close();
  }
}

export interface MaterializeOptions {
  /**
   * A directory (the sandbox's own upper dir, with the sandbox stopped) whose files still
   * unchanged since they were captured are hard-linked into `dir` instead of written again: same
   * inode, ctime (which no write, chmod, chown or rename inside the sandbox leaves alone) and size
   * as the entry recorded. The caller must discard this directory afterwards, so each reused
   * inode is linked from one upper dir only, and no process may write to it meanwhile.
   */
  reuseFrom?: string;
}

/**
 * Recreates a layer in the empty directory `dir` exactly as `entries` describe it: contents,
 * modes, owners, times, symlinks, overlayfs whiteouts (0:0 character devices) and opaque
 * directories. Runs as root (whiteouts need mknod, opaque markers a trusted.* xattr). Every entry
 * is made fd-relative below its parent (never through a link, at any depth). Returns how many
 * files were reused from `options.reuseFrom`.
 */
export async function materialize(
  entries: readonly ManifestEntry[],
  dir: string,
  blobs: ChunkSource,
  options: MaterializeOptions = {},
): Promise<number> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const root = await openDirectory(dir);
  const cursor = new DirCursor(root);
  const reuseRoot =
    options.reuseFrom === undefined ? undefined : await openDirectory(options.reuseFrom).catch(() => undefined);
  const reuse = reuseRoot === undefined ? undefined : new DirCursor(reuseRoot);
  // A linked file already has the entry's owner, mode and times (its ctime said nothing changed
  // them), so they are not set again. (The link itself moves its ctime on: a later restore writes
  // it from the blobs unless a checkpoint taken meanwhile recorded the new ctime.)
  const linked = new Set<ManifestEntry>();
  try {
    for (const e of sorted) {
      const { fd, name } = await cursor.parentOf(e.path);
      const at = fdPath(fd, name);
      switch (e.type) {
        case "dir":
          await mkdir(at, { mode: 0o700 });
          if (e.opaque) {
            await run("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", procFdPath(fd, name)], {
              timeout: TOOL_TIMEOUT_MS,
            });
          }
          break;
        case "file":
          if (reuse !== undefined && (await linkUnchanged(reuse, e, at))) linked.add(e);
          else await writeChunks(at, e.chunks ?? [], blobs);
          break;
        case "symlink":
          await symlink(e.target ?? "", at);
          break;
        case "whiteout":
          await run("mknod", [procFdPath(fd, name), "c", "0", "0"], { timeout: TOOL_TIMEOUT_MS });
          break;
        case "fifo":
          await run("mknod", [procFdPath(fd, name), "p"], { timeout: TOOL_TIMEOUT_MS });
          break;
      }
    }
    // Owners and modes, then times deepest first (creating a child changes its directory's mtime).
    for (const e of sorted) {
      if (linked.has(e)) continue;
      const { fd, name } = await cursor.parentOf(e.path);
      const at = fdPath(fd, name);
      await lchown(at, e.uid, e.gid);
      if (e.type !== "symlink") await chmod(at, e.mode);
    }
    for (const e of [...sorted].reverse()) {
      if (linked.has(e)) continue;
      const { fd, name } = await cursor.parentOf(e.path);
      const t = Number(BigInt(e.mtimeNs) / 1000n) / 1e6;
      await lutimes(fdPath(fd, name), t, t);
    }
  } finally {
    await cursor.close();
    await root.close();
    await reuse?.close();
    await reuseRoot?.close();
  }
  return linked.size;
}

/**
 * Hard-links the file at `e.path` below the reuse cursor's root to `at` when it is still the
 * inode the entry was read from, unchanged since: a regular file (never through a link: the
 * walk is fd-relative and lstat does not follow) with the entry's inode, ctime and size.
 */
async function linkUnchanged(reuse: DirCursor, e: ManifestEntry, at: string): Promise<boolean> {
  if (e.ino === undefined || e.ctimeNs === undefined) return false;
  try {
    const { fd, name } = await reuse.parentOf(e.path);
    const from = fdPath(fd, name);
    const st = await lstat(from, { bigint: true });
    if (!st.isFile() || st.ino.toString() !== e.ino || st.ctimeNs.toString() !== e.ctimeNs) return false;
    if (Number(st.size) !== e.size) return false;
    await link(from, at);
    return true;
  } catch {
    return false; // not there, not a plain path any more: written from the blobs instead
  }
}

/** Writes the memory image files of a `full` checkpoint into `dir` (for runsc restore). */
export async function materializeMemory(files: readonly MemoryFile[], dir: string, blobs: ChunkSource): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const f of files) await writeChunks(join(dir, f.name), f.chunks, blobs);
}
