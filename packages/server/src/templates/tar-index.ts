import { createHash } from "node:crypto";
import { open } from "node:fs/promises";
import { posix } from "node:path";
import { BurrowError, ErrorCode } from "@burrow/core";
import { paxRecords } from "@burrow/runtime";

const BLOCK = 512;

/** One entry of a build context archive, its path normalized (no `./`, no trailing `/`). */
export interface ContextEntry {
  path: string;
  type: "file" | "dir" | "symlink" | "hardlink";
  mode: number;
  size: number;
  /** Target of a link, as stored. */
  link?: string;
  /** sha256 hex of a file's bytes. */
  sha256?: string;
}

function invalid(message: string, path?: string): BurrowError {
  return new BurrowError(ErrorCode.ValidationFailed, `build context: ${message}`, {
    details: { field: "context", ...(path === undefined ? {} : { path }) },
  });
}

function field(block: Buffer, start: number, length: number): string {
  const raw = block.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end === -1 ? raw.length : end).toString("utf8");
}

function octal(block: Buffer, start: number, length: number): number {
  if ((block[start] ?? 0) & 0x80) throw invalid("entries of 8 GiB and more are not supported");
  const digits = field(block, start, length).trim();
  return digits === "" ? 0 : Number.parseInt(digits, 8);
}

/** `./a/b/` → `a/b`; undefined for the root itself; a 400 for absolute paths and `..`. */
export function normalizeContextPath(raw: string): string | undefined {
  if (raw.startsWith("/")) throw invalid(`absolute path ${raw}`, raw);
  const parts = raw.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.some((p) => p === "..")) throw invalid(`path ${raw} leaves the context ('..')`, raw);
  return parts.length === 0 ? undefined : parts.join("/");
}

/** A link at `path` pointing at `target` (symlink: relative to its directory) stays inside the root. */
function linkStaysInside(path: string, target: string, symlink: boolean): boolean {
  if (target.startsWith("/")) return false;
  const resolved = posix.normalize(symlink ? posix.join(posix.dirname(path), target) : target);
  return resolved !== ".." && !resolved.startsWith("../");
}

/**
 * Reads a (plain) tar archive's entries, hashing file contents, and checks that every path and
 * link stays inside the archive: absolute paths, `..`, links pointing outside, devices and
 * entries below a symlink are a 400.
 */
export async function indexTar(path: string): Promise<ContextEntry[]> {
  const fh = await open(path, "r");
  try {
    const { size: total } = await fh.stat();
    const entries = new Map<string, ContextEntry>();
    const symlinks = new Set<string>();
    let pos = 0;
    let longName: string | undefined;
    let longLink: string | undefined;
    let pax = new Map<string, string>();
    const header = Buffer.alloc(BLOCK);
    while (pos + BLOCK <= total) {
      await fh.read(header, 0, BLOCK, pos);
      if (header.every((b) => b === 0)) break;
      const type = String.fromCharCode(header[156] ?? 0);
      const size = octal(header, 124, 12);
      const dataStart = pos + BLOCK;
      pos = dataStart + Math.ceil(size / BLOCK) * BLOCK;
      if (pos > total) throw invalid("the archive is truncated");
      if (type === "L" || type === "K" || type === "x") {
        if (size > 1 << 20) throw invalid("an extended header is too large");
        const data = Buffer.alloc(size);
        await fh.read(data, 0, size, dataStart);
        if (type === "L") longName = field(data, 0, size);
        else if (type === "K") longLink = field(data, 0, size);
        else pax = paxRecords(data);
        continue;
      }
      if (type === "g") continue;
      const prefix = field(header, 345, 155);
      const rawName =
        pax.get("path") ?? longName ?? (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
      const link = pax.get("linkpath") ?? longLink ?? field(header, 157, 100);
      longName = undefined;
      longLink = undefined;
      pax = new Map();
      const name = normalizeContextPath(rawName);
      if (name === undefined) continue;
      const parts = name.split("/");
      for (let i = 1; i < parts.length; i++) {
        if (symlinks.has(parts.slice(0, i).join("/"))) throw invalid(`${name} is below a symlink`, name);
      }
      const mode = octal(header, 100, 8) & 0o7777;
      let entry: ContextEntry;
      if (type === "0" || type === "\0" || type === "7") {
        const hash = createHash("sha256");
        const chunk = Buffer.alloc(1 << 20);
        for (let done = 0; done < size; ) {
          const { bytesRead } = await fh.read(chunk, 0, Math.min(chunk.length, size - done), dataStart + done);
          if (bytesRead === 0) throw invalid("the archive is truncated");
          hash.update(chunk.subarray(0, bytesRead));
          done += bytesRead;
        }
        entry = { path: name, type: "file", mode, size, sha256: hash.digest("hex") };
      } else if (type === "5") {
        entry = { path: name, type: "dir", mode, size: 0 };
      } else if (type === "2" || type === "1") {
        const symlink = type === "2";
        if (!linkStaysInside(name, link, symlink))
          throw invalid(`link ${name} -> ${link} points outside the context`, name);
        if (symlink) symlinks.add(name);
        entry = { path: name, type: symlink ? "symlink" : "hardlink", mode, size: 0, link };
      } else {
        throw invalid(`${name} is a device or other special file (tar type '${type}')`, name);
      }
      entries.set(name, entry);
    }
    return [...entries.values()];
  } finally {
    await fh.close();
  }
}

function globToRegExp(glob: string): RegExp {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 1);
      if (end === -1) out += "\\[";
      else {
        out += `[${glob
          .slice(i + 1, end)
          .replace(/^!/, "^")
          .replace(/\\/g, "\\\\")}]`;
        i = end;
      }
    } else out += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${out}$`);
}

/**
 * The top-level paths a COPY source names in the context (globs per path part, as Docker);
 * `undefined` for the whole context (`.`). A source matching nothing is a 400.
 */
export function matchSources(entries: readonly ContextEntry[], source: string): string[] | undefined {
  const normalized = normalizeContextPath(source);
  if (normalized === undefined) return undefined;
  const known = new Set<string>();
  for (const e of entries) {
    const parts = e.path.split("/");
    for (let i = 1; i <= parts.length; i++) known.add(parts.slice(0, i).join("/"));
  }
  const pattern = globToRegExp(normalized);
  const matches = [...known].filter((p) => pattern.test(p)).sort();
  if (matches.length === 0) {
    throw new BurrowError(ErrorCode.ValidationFailed, `COPY source ${source} is not in the build context`, {
      details: { field: "steps", source },
    });
  }
  return matches;
}

/** The entries at or below `paths` (all of them for undefined). */
export function entriesUnder(entries: readonly ContextEntry[], paths: string[] | undefined): ContextEntry[] {
  if (paths === undefined) return [...entries];
  return entries.filter((e) => paths.some((p) => e.path === p || e.path.startsWith(`${p}/`)));
}
