/** Filesystem entries as the SDK returns them. */
import { type FsEntryInfo, FsFileType } from "@burrow/core";

export type FileType = "file" | "dir" | "symlink";

export interface EntryInfo {
  name: string;
  /** Undefined for entries of other kinds (sockets, devices, …). */
  type?: FileType;
  path: string;
  size: number;
  /** Unix mode bits. */
  mode: number;
  /** e.g. "-rw-r--r--". */
  permissions: string;
  owner: string;
  group: string;
  modifiedTime?: Date;
  symlinkTarget?: string;
}

/** What `files.write` reports for each written file. */
export interface WriteInfo {
  name: string;
  type?: FileType;
  path: string;
}

const FILE_TYPES: Record<string, FileType> = {
  [FsFileType.File]: "file",
  [FsFileType.Directory]: "dir",
  [FsFileType.Symlink]: "symlink",
  1: "file",
  2: "dir",
  3: "symlink",
  // The /files endpoint names types in plain words.
  file: "file",
  dir: "dir",
  directory: "dir",
  symlink: "symlink",
};

export function toFileType(type: unknown): FileType | undefined {
  return type === undefined ? undefined : FILE_TYPES[String(type)];
}

export function toEntryInfo(entry: FsEntryInfo): EntryInfo {
  const info: EntryInfo = {
    name: entry.name ?? "",
    path: entry.path ?? "",
    size: Number(entry.size ?? 0),
    mode: entry.mode ?? 0,
    permissions: entry.permissions ?? "",
    owner: entry.owner ?? "",
    group: entry.group ?? "",
  };
  const type = toFileType(entry.type);
  if (type !== undefined) info.type = type;
  if (entry.modifiedTime !== undefined) {
    const date = new Date(entry.modifiedTime);
    if (!Number.isNaN(date.getTime())) info.modifiedTime = date;
  }
  if (entry.symlinkTarget !== undefined && entry.symlinkTarget !== "") info.symlinkTarget = entry.symlinkTarget;
  return info;
}
