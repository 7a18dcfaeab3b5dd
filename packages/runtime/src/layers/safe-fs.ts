import { execFile } from "node:child_process";
import type { BigIntStats } from "node:fs";
import { closeSync, constants, lstatSync, openSync, readdirSync, readlinkSync } from "node:fs";
import { type FileHandle, lstat, open, readlink, realpath } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

/**
 * File access below a directory whose contents a sandbox controls (an overlay upper dir), or
 * whose symlinks point outside it (a template rootfs). Nothing here follows a symlink found
 * below the root: directories are opened one component at a time with O_NOFOLLOW and children
 * are addressed as `/proc/self/fd/<dirfd>/<name>`, so paths stay short at any depth.
 */

const run = promisify(execFile);

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
export const FILE_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const REMOVE_TIMEOUT_MS = 300_000;

/** Errors that mean "not there as that kind of thing" (vanished, swapped for a link, not a dir). */
const ABSENT = new Set(["ENOENT", "ELOOP", "ENOTDIR", "EINVAL", "ENXIO", "EISDIR", "EMLINK"]);

export function isAbsentError(err: unknown): boolean {
  return ABSENT.has((err as NodeJS.ErrnoException)?.code ?? "");
}

/** `/proc/self/fd/<fd>` (or a child `name` of that directory): for this process's own calls. */
export function fdPath(fd: number, name?: string): string {
  return name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`;
}

/** The same, addressed through this process's pid: for child processes (run as root). */
export function procFdPath(fd: number, name?: string): string {
  return name === undefined ? `/proc/${process.pid}/fd/${fd}` : `/proc/${process.pid}/fd/${fd}/${name}`;
}

/** A single path component: not empty, ".", ".." and without "/" or NUL. */
export function isPlainName(name: string): boolean {
  return name !== "" && name !== "." && name !== ".." && !name.includes("/") && !name.includes("\0");
}

/** The components of a relative path ("a/b/c"), or null when one of them is not a plain name. */
export function splitRelative(rel: string): string[] | null {
  const parts = rel.split("/");
  return parts.every(isPlainName) ? parts : null;
}

/** Opens the directory `path` itself (a path the server chose; its last component must not be a link). */
export function openDirectory(path: string): Promise<FileHandle> {
  return open(path, DIR_FLAGS);
}

/**
 * Synchronous: opens the directory `rel` below `root` one component at a time without following
 * a link; its fd, or null when it is absent or reached through a link. For tight loops that
 * must not wait on the thread pool (a checkpoint's copy while the sandbox is frozen).
 */
export function openDirBeneathSync(root: string, rel: string): number | null {
  const parts = rel === "" ? [] : splitRelative(rel);
  if (parts === null) return null;
  let fd: number;
  try {
    fd = openSync(root, DIR_FLAGS);
  } catch (err) {
    if (isAbsentError(err)) return null;
    throw err;
  }
  try {
    for (const name of parts) {
      const next = openSync(fdPath(fd, name), DIR_FLAGS);
      closeSync(fd);
      fd = next;
    }
    return fd;
  } catch (err) {
    closeSync(fd);
    if (isAbsentError(err)) return null;
    throw err;
  }
}

/** Opens the child directory `name` of an open directory without following a link. */
export function openChildDir(parent: FileHandle, name: string): Promise<FileHandle> {
  if (!isPlainName(name)) throw Object.assign(new Error(`not a plain name: ${name}`), { code: "EINVAL" });
  return open(fdPath(parent.fd, name), DIR_FLAGS);
}

/**
 * Opens `rel` below `root` as a regular file ("file") or a directory ("dir") without following
 * any symlink below `root`. Null when it is absent, not of that kind, or reached through a link.
 */
export async function openBeneath(root: string, rel: string, kind: "file" | "dir"): Promise<FileHandle | null> {
  const parts = rel === "" ? [] : splitRelative(rel);
  if (parts === null) return null;
  const fast = await openFast(root, rel, parts, kind);
  if (fast !== undefined) return fast;
  let dir: FileHandle;
  try {
    dir = await openDirectory(root);
  } catch (err) {
    if (isAbsentError(err)) return null;
    throw err;
  }
  try {
    for (let i = 0; i < parts.length; i++) {
      const name = parts[i] as string;
      const last = i === parts.length - 1;
      const next = await open(fdPath(dir.fd, name), last && kind === "file" ? FILE_FLAGS : DIR_FLAGS);
      await dir.close();
      dir = next;
    }
    if (kind === "file" && !(await dir.stat()).isFile()) {
      await dir.close();
      return null;
    }
    return dir;
  } catch (err) {
    await dir.close().catch(() => undefined);
    if (isAbsentError(err)) return null;
    throw err;
  }
}

/**
 * The common case in one open: the whole path with O_NOFOLLOW on its last component, accepted
 * only if the kernel's name for what was opened is exactly `<real root>/<rel>` (so no link was
 * crossed on the way). Undefined when the slow path must decide.
 */
async function openFast(
  root: string,
  rel: string,
  parts: string[],
  kind: "file" | "dir",
): Promise<FileHandle | null | undefined> {
  if (root.length + rel.length > 3000 || parts.length === 0) return undefined;
  let fh: FileHandle;
  try {
    fh = await open(join(root, rel), kind === "file" ? FILE_FLAGS : DIR_FLAGS);
  } catch {
    return undefined;
  }
  try {
    const [real, actual] = await Promise.all([realRoot(root), readlink(fdPath(fh.fd))]);
    if (actual === `${real === "/" ? "" : real}/${rel}` && (kind === "dir" || (await fh.stat()).isFile())) return fh;
  } catch {
    // fall through to the slow path
  }
  await fh.close();
  return undefined;
}

/** Real paths of roots (server-chosen directories; a stale one only sends openFast to the slow path). */
const realRoots = new Map<string, string>();

async function realRoot(root: string): Promise<string> {
  let real = realRoots.get(root);
  if (real === undefined) {
    real = await realpath(root);
    if (realRoots.size > 10_000) realRoots.clear();
    realRoots.set(root, real);
  }
  return real;
}

/**
 * Reads the regular file `rel` below `root` without following links; null when absent or not a
 * file. With `maxBytes`, reads at most one byte more than that (a file growing while it is read
 * cannot make the server hold more).
 */
export async function readFileBeneath(root: string, rel: string, maxBytes?: number): Promise<Buffer | null> {
  const fh = await openBeneath(root, rel, "file");
  if (!fh) return null;
  try {
    if (maxBytes === undefined) return await fh.readFile();
    const limit = maxBytes + 1;
    let buf = Buffer.allocUnsafe(Math.min(limit, (await fh.stat()).size + 1));
    let filled = 0;
    for (;;) {
      if (filled === buf.length) {
        if (buf.length === limit) break;
        const bigger = Buffer.allocUnsafe(Math.min(limit, buf.length * 2));
        buf.copy(bigger, 0, 0, filled);
        buf = bigger;
      }
      const { bytesRead } = await fh.read(buf, filled, buf.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return buf.subarray(0, filled);
  } finally {
    await fh.close();
  }
}

/** lstat of `rel` below `root` (its last component is not followed either); null when absent. */
export async function lstatBeneath(root: string, rel: string): Promise<BigIntStats | null> {
  return atParent(root, rel, (path) => lstat(path, { bigint: true }));
}

/** The target of the symlink `rel` below `root`; null when absent or not a link. */
export async function readlinkBeneath(root: string, rel: string): Promise<string | null> {
  return atParent(root, rel, (path) => readlink(path));
}

async function atParent<T>(root: string, rel: string, fn: (path: string) => Promise<T>): Promise<T | null> {
  const parts = splitRelative(rel);
  if (parts === null) return null;
  const name = parts.pop() as string;
  const dir = await openBeneath(root, parts.join("/"), "dir");
  if (!dir) return null;
  try {
    return await fn(fdPath(dir.fd, name));
  } catch (err) {
    if (isAbsentError(err)) return null;
    throw err;
  } finally {
    await dir.close();
  }
}

/** One thing found by walkTree. */
export interface WalkEntry {
  /** Relative to the root, "/"-separated, no leading slash. */
  path: string;
  stat: BigIntStats;
  /** Target of a symlink. */
  target?: string;
}

export interface WalkHooks {
  /** Called for each directory while it is open (its fd is valid until the hook returns). */
  onDir?: (path: string, dirFd: number) => Promise<void>;
}

/**
 * Every entry below `root` in pre-order (a directory, then its children by name), fd-relative:
 * symlinks are reported, never followed, and any depth works. Entries that vanish or change kind
 * while being walked are left out (a live sandbox may be changing them).
 */
export async function walkTree(root: string, hooks: WalkHooks = {}): Promise<WalkEntry[]> {
  const top = await openDirectory(root);
  const out: WalkEntry[] = [];
  try {
    await walkDir(top.fd, "", out, hooks, { slice: performance.now() });
  } finally {
    await top.close();
  }
  return out;
}

const YIELD_EVERY_MS = 5;

/**
 * One directory and, depth first, its subdirectories. Plain system calls (no thread-pool round
 * trip per entry; a checkpoint walks while its sandbox is frozen), letting the event loop run
 * every few milliseconds.
 */
async function walkDir(
  dirFd: number,
  rel: string,
  out: WalkEntry[],
  hooks: WalkHooks,
  state: { slice: number },
): Promise<void> {
  if (hooks.onDir) await hooks.onDir(rel, dirFd);
  if (performance.now() - state.slice >= YIELD_EVERY_MS) {
    await new Promise((r) => setImmediate(r));
    state.slice = performance.now();
  }
  let names: string[];
  try {
    names = readdirSync(fdPath(dirFd)).sort();
  } catch (err) {
    if (isAbsentError(err)) return;
    throw err;
  }
  for (const name of names) {
    const path = rel === "" ? name : `${rel}/${name}`;
    const at = fdPath(dirFd, name);
    let entry: WalkEntry;
    try {
      entry = { path, stat: lstatSync(at, { bigint: true }) };
      if (entry.stat.isSymbolicLink()) entry.target = readlinkSync(at);
    } catch (err) {
      if (isAbsentError(err)) continue; // vanished meanwhile
      throw err;
    }
    if (!entry.stat.isDirectory()) {
      out.push(entry);
      continue;
    }
    let child: number;
    try {
      child = openSync(at, DIR_FLAGS);
    } catch (err) {
      if (isAbsentError(err)) continue; // vanished or swapped for a link: left out
      throw err;
    }
    try {
      out.push(entry);
      await walkDir(child, path, out, hooks, state);
    } finally {
      closeSync(child);
    }
  }
}

/**
 * Keeps the directories along a path open, so that entries visited in (roughly) tree order are
 * each addressed as `/proc/self/fd/<parent>/<name>` without reopening their ancestors.
 */
export class DirCursor {
  private readonly stack: { name: string; fh: FileHandle }[] = [];

  constructor(private readonly root: FileHandle) {}

  /** The open parent directory of `rel` and its last component; throws if `rel` is not plain. */
  async parentOf(rel: string): Promise<{ fd: number; name: string }> {
    const parts = splitRelative(rel);
    if (parts === null) throw Object.assign(new Error(`not a relative path: ${rel}`), { code: "EINVAL" });
    const name = parts.pop() as string;
    let keep = 0;
    while (keep < this.stack.length && keep < parts.length && this.stack[keep]?.name === parts[keep]) keep++;
    while (this.stack.length > keep) await this.stack.pop()?.fh.close();
    for (let i = keep; i < parts.length; i++) {
      const parent = this.stack[this.stack.length - 1]?.fh ?? this.root;
      this.stack.push({ name: parts[i] as string, fh: await openChildDir(parent, parts[i] as string) });
    }
    return { fd: (this.stack[this.stack.length - 1]?.fh ?? this.root).fd, name };
  }

  /** Closes every directory the cursor holds (not the root). */
  async close(): Promise<void> {
    while (this.stack.length > 0) await this.stack.pop()?.fh.close();
  }
}

/**
 * Removes `path` and everything below it, at any depth and whatever the modes (GNU `rm -rf`,
 * which walks fd-relative and never follows links). Absent is fine.
 */
export async function removeTree(path: string): Promise<void> {
  if (!path.startsWith("/") || path === "/") throw new Error(`refusing to remove ${path}`);
  await run("rm", ["-rf", "--one-file-system", "--", path], { timeout: REMOVE_TIMEOUT_MS, killSignal: "SIGKILL" });
}
