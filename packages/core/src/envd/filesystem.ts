/**
 * Messages of envd's `filesystem.Filesystem` service and of its `/files` HTTP endpoint, in
 * proto3 canonical JSON (int64 as string, Timestamp as RFC 3339 string, enums by name).
 */

export const FilesystemMethod = {
  Stat: "/filesystem.Filesystem/Stat",
  MakeDir: "/filesystem.Filesystem/MakeDir",
  Move: "/filesystem.Filesystem/Move",
  ListDir: "/filesystem.Filesystem/ListDir",
  Remove: "/filesystem.Filesystem/Remove",
  WatchDir: "/filesystem.Filesystem/WatchDir",
} as const;
export type FilesystemMethod = (typeof FilesystemMethod)[keyof typeof FilesystemMethod];

/** HTTP path of file download (`GET`) and upload (`POST`); takes `?path=&username=`. */
export const FILES_PATH = "/files";

export const FsFileType = {
  Unspecified: "FILE_TYPE_UNSPECIFIED",
  File: "FILE_TYPE_FILE",
  Directory: "FILE_TYPE_DIRECTORY",
  Symlink: "FILE_TYPE_SYMLINK",
} as const;
export type FsFileType = (typeof FsFileType)[keyof typeof FsFileType];

export const FsEventType = {
  Unspecified: "EVENT_TYPE_UNSPECIFIED",
  Create: "EVENT_TYPE_CREATE",
  Write: "EVENT_TYPE_WRITE",
  Remove: "EVENT_TYPE_REMOVE",
  Rename: "EVENT_TYPE_RENAME",
  Chmod: "EVENT_TYPE_CHMOD",
} as const;
export type FsEventType = (typeof FsEventType)[keyof typeof FsEventType];

export interface FsEntryInfo {
  name?: string;
  /** Enum name; parsers also accept the enum number. */
  type?: FsFileType | number;
  path?: string;
  /** int64: a decimal string in canonical JSON, a number from lenient writers. */
  size?: string | number;
  mode?: number;
  permissions?: string;
  owner?: string;
  group?: string;
  /** RFC 3339 timestamp. */
  modifiedTime?: string;
  symlinkTarget?: string;
  metadata?: Record<string, string>;
}

/** Request of Stat, MakeDir and Remove. */
export interface FsPathRequest {
  path: string;
}

/** Reply of Stat, MakeDir and Move (Remove replies `{}`). */
export interface FsEntryResponse {
  entry?: FsEntryInfo;
}

export interface FsMoveRequest {
  source: string;
  destination: string;
}

export interface FsListDirRequest {
  path: string;
  depth?: number;
}

export interface FsListDirResponse {
  entries?: FsEntryInfo[];
}

export interface FsWatchDirRequest {
  path: string;
  recursive?: boolean;
  includeEntry?: boolean;
}

export interface FsEvent {
  name?: string;
  type?: FsEventType | number;
  entry?: FsEntryInfo;
}

/** Each message of the WatchDir stream; exactly one member is set. */
export interface FsWatchDirMessage {
  start?: Record<string, never>;
  filesystem?: FsEvent;
  keepalive?: Record<string, never>;
}

/** One item of the JSON array `POST /files` answers with. */
export interface FilesUploadEntry {
  path: string;
  name: string;
  /** "file" for uploads. */
  type?: string;
}

/** Error body of the `/files` endpoint (`code` is the HTTP status). */
export interface FilesErrorBody {
  code: number;
  message: string;
}
