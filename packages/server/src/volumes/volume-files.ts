import type { BigIntStats } from "node:fs";
import { constants } from "node:fs";
import { type FileHandle, lstat, mkdir, open, readdir, readlink, unlink } from "node:fs/promises";
import type { Readable } from "node:stream";
import { BurrowError, ErrorCode, type VolumeEntry, type VolumeEntryType } from "@burrow/core";
import { FILE_FLAGS, fdPath, openDirectory, procFdPath, removeTree } from "@burrow/runtime";

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const WRITE_FLAGS =
  constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW | constants.O_NONBLOCK;
/** Deepest listing the files API walks in one call. */
export const MAX_LIST_DEPTH = 32;
/** Most entries one listing returns. */
const MAX_LIST_ENTRIES = 100_000;

export interface OwnerAndMode {
  uid?: number;
  gid?: number;
  mode?: number;
}

/** The components of a volume path ("/a/b", "a/b/", "" and "/" for the root), or a 400. */
export function splitVolumePath(path: string): string[] {
  if (path.includes("\0")) throw badPath(path, "contains NUL");
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw badPath(path, "must not contain '..' (paths stay inside the volume)");
  if (parts.some((p) => Buffer.byteLength(p) > 255)) throw badPath(path, "has a name longer than 255 bytes");
  return parts;
}

function badPath(path: string, why: string): BurrowError {
  return new BurrowError(ErrorCode.BadRequest, `path '${path.slice(0, 300)}' ${why}`, {
    details: { path: path.slice(0, 300), reason: "bad_path" },
  });
}

function notFound(path: string): BurrowError {
  return new BurrowError(ErrorCode.NotFound, `path '${path.slice(0, 300)}' not found on the volume`, {
    details: { path: path.slice(0, 300), reason: "path_not_found" },
  });
}

const code = (err: unknown) => (err as NodeJS.ErrnoException)?.code ?? "";

/** Host errors of a file operation as API errors (a missing path 404, a link or a full volume told apart). */
function translate(err: unknown, path: string): unknown {
  switch (code(err)) {
    case "ENOENT":
      return notFound(path);
    case "ELOOP":
      return badPath(path, "goes through a symbolic link; the files API never follows links on a volume");
    case "ENOTDIR":
      return badPath(path, "goes through something that is not a folder");
    case "EISDIR":
      return badPath(path, "is a folder");
    case "EEXIST":
      return new BurrowError(ErrorCode.Conflict, `path '${path.slice(0, 300)}' already exists`, { details: { path } });
    case "ENOTEMPTY":
      return new BurrowError(ErrorCode.Conflict, `folder '${path.slice(0, 300)}' is not empty`, { details: { path } });
    case "ENOSPC":
    case "EDQUOT":
      return new BurrowError(ErrorCode.VolumeFull, "the volume is full (its size limit is reached)", {
        details: { path },
      });
    case "ENXIO":
      return badPath(path, "is not a regular file");
    default:
      return err;
  }
}

function typeOf(st: BigIntStats): VolumeEntryType {
  if (st.isFile()) return "file";
  if (st.isDirectory()) return "directory";
  if (st.isSymbolicLink()) return "symlink";
  return "unknown";
}

function entryOf(parts: string[], st: BigIntStats, target?: string): VolumeEntry {
  return {
    name: parts.at(-1) ?? "",
    path: `/${parts.join("/")}`,
    type: typeOf(st),
    size: Number(st.size),
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    atime: new Date(Number(st.atimeMs)).toISOString(),
    mtime: new Date(Number(st.mtimeMs)).toISOString(),
    ctime: new Date(Number(st.ctimeMs)).toISOString(),
    ...(target === undefined ? {} : { target }),
  };
}

/**
 * Copies `body` into the open file and closes it. On a write error (a full volume) the rest of
 * the body is read and dropped, so the client, still sending, gets the error response.
 */
function copyInto(body: Readable, fh: FileHandle): Promise<void> {
  return new Promise((resolve, reject) => {
    const out = fh.createWriteStream();
    let failed: unknown;
    out.on("error", (err) => {
      failed = err;
      body.unpipe(out);
      body.resume();
    });
    body.on("error", (err) => {
      failed = err;
      out.destroy();
    });
    out.on("close", () => (failed === undefined ? resolve() : reject(failed)));
    body.pipe(out);
  });
}

/**
 * The files API of one volume, run on the host over the volume's root folder. Every path is
 * walked one component at a time from the root with O_NOFOLLOW and addressed fd-relative, so a
 * symlink a sandbox left on the volume is reported, removed or refused (400) — never followed
 * out of the volume to a host file.
 */
export class VolumeFiles {
  constructor(private readonly root: string) {}

  /** Opens the folder `parts` (creating missing folders when `create`). */
  private async openDir(parts: string[], path: string, create = false): Promise<FileHandle> {
    let dir = await openDirectory(this.root);
    try {
      for (const name of parts) {
        let next: FileHandle;
        try {
          next = await open(fdPath(dir.fd, name), DIR_FLAGS);
        } catch (err) {
          if (!create || code(err) !== "ENOENT") throw err;
          await mkdir(fdPath(dir.fd, name)).catch((e: unknown) => {
            if (code(e) !== "EEXIST") throw e;
          });
          next = await open(fdPath(dir.fd, name), DIR_FLAGS);
        }
        await dir.close();
        dir = next;
      }
      return dir;
    } catch (err) {
      await dir.close().catch(() => undefined);
      throw translate(err, path);
    }
  }

  /** Runs `fn` with the open parent folder of `path` and its last component. */
  private async atParent<T>(
    path: string,
    fn: (dir: FileHandle, name: string, parts: string[]) => Promise<T>,
    createParents = false,
  ): Promise<T> {
    const parts = splitVolumePath(path);
    const name = parts.at(-1);
    if (name === undefined) throw badPath(path, "is the volume's root");
    const dir = await this.openDir(parts.slice(0, -1), path, createParents);
    try {
      return await fn(dir, name, parts);
    } catch (err) {
      throw translate(err, path);
    } finally {
      await dir.close();
    }
  }

  async stat(path: string): Promise<VolumeEntry> {
    const parts = splitVolumePath(path);
    if (parts.length === 0) {
      const dir = await this.openDir([], path);
      try {
        return entryOf([], await dir.stat({ bigint: true }));
      } finally {
        await dir.close();
      }
    }
    return this.atParent(path, async (dir, name) => {
      const st = await lstat(fdPath(dir.fd, name), { bigint: true });
      return entryOf(parts, st, st.isSymbolicLink() ? await readlink(fdPath(dir.fd, name)) : undefined);
    });
  }

  /** Entries below the folder `path`, `depth` levels deep (1: its children). Links are listed, not entered. */
  async list(path: string, depth = 1): Promise<VolumeEntry[]> {
    const parts = splitVolumePath(path);
    const top = await this.openDir(parts, path);
    const out: VolumeEntry[] = [];
    try {
      await this.walk(top, parts, Math.min(Math.max(depth, 1), MAX_LIST_DEPTH), out);
    } finally {
      await top.close();
    }
    return out;
  }

  private async walk(dir: FileHandle, parts: string[], depth: number, out: VolumeEntry[]): Promise<void> {
    const names = (await readdir(fdPath(dir.fd))).sort();
    for (const name of names) {
      if (out.length >= MAX_LIST_ENTRIES) return;
      const at = fdPath(dir.fd, name);
      let st: BigIntStats;
      try {
        st = await lstat(at, { bigint: true });
      } catch (err) {
        if (code(err) === "ENOENT") continue; // removed meanwhile
        throw err;
      }
      out.push(entryOf([...parts, name], st, st.isSymbolicLink() ? await readlink(at).catch(() => "") : undefined));
      if (!st.isDirectory() || depth <= 1) continue;
      let child: FileHandle;
      try {
        child = await open(at, DIR_FLAGS);
      } catch {
        continue; // swapped for a link or removed meanwhile: not entered
      }
      try {
        await this.walk(child, [...parts, name], depth - 1, out);
      } finally {
        await child.close();
      }
    }
  }

  /** Makes the folder `path`; with `parents`, the missing folders above it too and no error if it exists. */
  async makeDir(path: string, options: OwnerAndMode & { parents?: boolean } = {}): Promise<VolumeEntry> {
    await this.atParent(
      path,
      async (dir, name) => {
        try {
          await mkdir(fdPath(dir.fd, name), { mode: options.mode ?? 0o755 });
        } catch (err) {
          if (!(options.parents && code(err) === "EEXIST")) throw err;
        }
      },
      options.parents === true,
    );
    if (options.mode !== undefined || options.uid !== undefined || options.gid !== undefined) {
      return this.setOwnerAndMode(path, options);
    }
    return this.stat(path);
  }

  /** Writes the regular file `path` from `body` (replacing it), making missing folders above it. */
  async write(path: string, body: Readable, options: OwnerAndMode = {}): Promise<VolumeEntry> {
    await this.atParent(
      path,
      async (dir, name) => {
        const fh = await open(fdPath(dir.fd, name), WRITE_FLAGS, options.mode ?? 0o644);
        if (!(await fh.stat()).isFile()) {
          await fh.close();
          throw Object.assign(new Error("not a regular file"), { code: "ENXIO" });
        }
        await copyInto(body, fh);
      },
      true,
    );
    if (options.mode !== undefined || options.uid !== undefined || options.gid !== undefined) {
      return this.setOwnerAndMode(path, options);
    }
    return this.stat(path);
  }

  /** Opens the regular file `path` for reading (the caller closes it). */
  async openFile(path: string): Promise<{ fh: FileHandle; size: number }> {
    return this.atParent(path, async (dir, name) => {
      const fh = await open(fdPath(dir.fd, name), FILE_FLAGS);
      const st = await fh.stat();
      if (!st.isFile()) {
        await fh.close();
        throw Object.assign(new Error("not a regular file"), { code: st.isDirectory() ? "EISDIR" : "ENXIO" });
      }
      return { fh, size: st.size };
    });
  }

  /** Removes `path` (a folder with everything in it; a link itself, never what it points to). */
  async remove(path: string): Promise<void> {
    await this.atParent(path, async (dir, name) => {
      const st = await lstat(fdPath(dir.fd, name));
      if (st.isDirectory()) await removeTree(procFdPath(dir.fd, name));
      else await unlink(fdPath(dir.fd, name));
    });
  }

  /** Changes owner and permission bits of a file or folder (links are refused). */
  async setOwnerAndMode(path: string, options: OwnerAndMode): Promise<VolumeEntry> {
    const parts = splitVolumePath(path);
    const fh =
      parts.length === 0
        ? await this.openDir([], path)
        : await this.atParent(path, async (dir, name) => {
            try {
              return await open(fdPath(dir.fd, name), DIR_FLAGS);
            } catch (err) {
              if (code(err) !== "ENOTDIR") throw err;
              return await open(fdPath(dir.fd, name), FILE_FLAGS);
            }
          });
    try {
      if (options.mode !== undefined) await fh.chmod(options.mode & 0o7777);
      if (options.uid !== undefined || options.gid !== undefined) {
        const st = await fh.stat();
        await fh.chown(options.uid ?? st.uid, options.gid ?? st.gid);
      }
    } catch (err) {
      throw translate(err, path);
    } finally {
      await fh.close();
    }
    return this.stat(path);
  }
}
