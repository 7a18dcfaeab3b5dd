/** Wire types of volumes (`/v1/volumes`): named storage that outlives sandboxes and is shared by them. */

/** Volume names: lowercase letters, digits, '.', '_' and '-', starting with a letter or digit. */
export const VOLUME_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** Size limits of a volume, in bytes. */
export const VOLUME_MIN_SIZE_BYTES = 16 * 1024 * 1024;
export const VOLUME_DEFAULT_SIZE_BYTES = 10 * 1024 * 1024 * 1024;
export const VOLUME_MAX_SIZE_BYTES = 16 * 1024 * 1024 * 1024 * 1024;

export interface CreateVolumeRequest {
  name: string;
  /** The size limit; writes past it fail with ENOSPC. Default 10 GiB (sparse: costs what is written). */
  sizeBytes?: number;
}

export interface VolumeInfo {
  /** `vol_` and 20 characters. */
  id: string;
  name: string;
  sizeBytes: number;
  /** Bytes in use on the volume's file system, when the server has it mounted. */
  usedBytes?: number;
  createdAt: string;
  /** Sandboxes (not deleted) that mount it. */
  mountedBy: string[];
}

export interface ListVolumesResponse {
  volumes: VolumeInfo[];
}

/** A volume mounted into a sandbox at create. */
export interface VolumeMount {
  /** The volume's name (or id). */
  name: string;
  /** Absolute path in the sandbox; not `/` nor below `/proc`, `/dev`, `/sys` or `/opt/burrow`. */
  path: string;
  /** Writes fail with EROFS in this sandbox. Default false. */
  readOnly?: boolean;
}

export type VolumeEntryType = "file" | "directory" | "symlink" | "unknown";

/** One file or folder on a volume, as the files API reports it. */
export interface VolumeEntry {
  name: string;
  /** Absolute within the volume ("/a/b.txt"). */
  path: string;
  type: VolumeEntryType;
  size: number;
  /** Permission bits and file type, as st_mode. */
  mode: number;
  uid: number;
  gid: number;
  atime: string;
  mtime: string;
  ctime: string;
  /** Target of a symlink (never followed). */
  target?: string;
}
