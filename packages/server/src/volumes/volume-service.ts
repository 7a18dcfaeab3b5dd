import { randomBytes } from "node:crypto";
import { posix } from "node:path";
import {
  BurrowError,
  type CreateVolumeRequest,
  ErrorCode,
  errorMessage,
  type Logger,
  prefixedId,
  VOLUME_DEFAULT_SIZE_BYTES,
  VOLUME_MAX_SIZE_BYTES,
  VOLUME_MIN_SIZE_BYTES,
  VOLUME_NAME_PATTERN,
  type VolumeInfo,
  type VolumeMount,
} from "@burrow/core";
import { type BindMount, VOLUME_ID_PATTERN, type VolumeDisks } from "@burrow/runtime";
import type { VolumeRecord, VolumeStore } from "../store/volume-store.js";

/** At most this many volumes in one sandbox. */
const MAX_MOUNTS = 16;

/** Paths a volume may not be mounted at or below: the system's and Burrow's own. */
const RESERVED_TREES = ["/proc", "/dev", "/sys", "/opt/burrow"];
/** Paths a volume may not be mounted at exactly (Burrow mounts its own there). */
const RESERVED_PATHS = ["/", "/tmp", "/etc/resolv.conf"];

/** A create request's volumes, checked and mounted on the host, held until the sandbox row records them. */
export interface PreparedVolumes {
  binds: BindMount[];
  mounts: Array<{ volumeId: string; path: string; readOnly: boolean }>;
  /** Ends the hold (after the mounts are recorded, or when the create gave up). */
  release(): void;
}

export interface VolumeServiceDeps {
  store: VolumeStore;
  disks: VolumeDisks;
  logger: Logger;
  now?: () => Date;
}

const invalid = (field: string, message: string) =>
  new BurrowError(ErrorCode.ValidationFailed, `invalid request: ${field}: ${message}`, { details: { field } });

/**
 * Volumes: create, list, delete, and mounting them into sandboxes. Each volume is a file system
 * of its own on the host (VolumeDisks), mounted while the server runs and some sandbox uses it;
 * sandboxes get it as a bind mount, so every sandbox that mounts it sees the same files.
 */
export class VolumeService {
  private readonly now: () => Date;
  /** Volumes a create is about to record mounts of: a delete meanwhile is refused. */
  private readonly held = new Map<string, number>();

  constructor(private readonly deps: VolumeServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async create(request: CreateVolumeRequest): Promise<VolumeRecord> {
    if (typeof request.name !== "string" || !VOLUME_NAME_PATTERN.test(request.name)) {
      throw invalid("name", "must be 1-63 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit");
    }
    const size = request.sizeBytes ?? VOLUME_DEFAULT_SIZE_BYTES;
    if (!Number.isSafeInteger(size) || size < VOLUME_MIN_SIZE_BYTES || size > VOLUME_MAX_SIZE_BYTES) {
      throw invalid(
        "sizeBytes",
        `must be a whole number of bytes from ${VOLUME_MIN_SIZE_BYTES} to ${VOLUME_MAX_SIZE_BYTES}`,
      );
    }
    if (await this.deps.store.byName(request.name)) {
      throw new BurrowError(ErrorCode.Conflict, `a volume named '${request.name}' already exists`, {
        details: { name: request.name },
      });
    }
    const record: VolumeRecord = {
      id: prefixedId("vol", (n) => randomBytes(n)),
      name: request.name,
      // Whole 4 KiB blocks: the file system's size.
      sizeBytes: Math.floor(size / 4096) * 4096,
      token: `vt_${randomBytes(24).toString("hex")}`,
      createdAt: this.now().toISOString(),
    };
    // The storage first: a crash before the row leaves a folder the next start removes.
    await this.deps.disks.create(record.id, record.sizeBytes);
    try {
      await this.deps.store.insert(record);
    } catch (err) {
      await this.deps.disks.remove(record.id).catch(() => undefined);
      if (/UNIQUE/.test(errorMessage(err))) {
        throw new BurrowError(ErrorCode.Conflict, `a volume named '${request.name}' already exists`);
      }
      throw err;
    }
    return record;
  }

  /** A volume by id (`vol_…`) or name; 404 when there is none. */
  async get(idOrName: string): Promise<VolumeRecord> {
    const record = VOLUME_ID_PATTERN.test(idOrName)
      ? await this.deps.store.get(idOrName)
      : await this.deps.store.byName(idOrName);
    if (!record) {
      throw new BurrowError(ErrorCode.VolumeNotFound, `volume '${idOrName}' not found`, {
        details: { volume: idOrName },
      });
    }
    return record;
  }

  /** The volume whose content-API token this is, if any. */
  async byToken(token: string): Promise<VolumeRecord | undefined> {
    return token.startsWith("vt_") ? await this.deps.store.byToken(token) : undefined;
  }

  async list(): Promise<VolumeRecord[]> {
    return await this.deps.store.list();
  }

  async info(record: VolumeRecord): Promise<VolumeInfo> {
    const usage = await this.deps.disks.usage(record.id).catch(() => undefined);
    return {
      id: record.id,
      name: record.name,
      sizeBytes: record.sizeBytes,
      ...(usage ? { usedBytes: usage.usedBytes } : {}),
      createdAt: record.createdAt,
      mountedBy: await this.deps.store.mountedBy(record.id),
    };
  }

  /** Deletes a volume and its files; 409 naming the sandboxes while any mounts it. False when absent. */
  async delete(idOrName: string): Promise<boolean> {
    let record: VolumeRecord;
    try {
      record = await this.get(idOrName);
    } catch {
      return false;
    }
    const users = await this.deps.store.mountedBy(record.id);
    if (users.length > 0 || (this.held.get(record.id) ?? 0) > 0) {
      const which = users.length > 0 ? `sandboxes ${users.join(", ")}` : "a sandbox being created";
      throw new BurrowError(
        ErrorCode.Conflict,
        `volume '${record.name}' is mounted by ${which}; delete them first (or wait for the create)`,
        { details: { volume: record.id, sandboxIds: users } },
      );
    }
    await this.deps.store.delete(record.id);
    await this.deps.disks.remove(record.id);
    return true;
  }

  /** The host folder of the volume's files (mounting it first), for the files API. */
  async root(record: VolumeRecord): Promise<string> {
    return await this.deps.disks.mount(record.id);
  }

  /**
   * Checks a create request's mounts (paths, unknown volumes: 4xx), mounts the volumes on the
   * host and holds them against deletion until `release`.
   */
  async prepare(mounts: VolumeMount[]): Promise<PreparedVolumes> {
    if (mounts.length > MAX_MOUNTS) throw invalid("volumes", `at most ${MAX_MOUNTS} volumes per sandbox`);
    const paths: string[] = [];
    const resolved: Array<{ record: VolumeRecord; path: string; readOnly: boolean }> = [];
    for (const [i, m] of mounts.entries()) {
      const path = checkMountPath(m.path, `volumes.${i}.path`);
      const clash = paths.find((p) => p === path || path.startsWith(`${p}/`) || p.startsWith(`${path}/`));
      if (clash !== undefined) throw invalid(`volumes.${i}.path`, `'${path}' overlaps the mount at '${clash}'`);
      paths.push(path);
      resolved.push({ record: await this.get(m.name), path, readOnly: m.readOnly === true });
    }
    return this.hold(resolved);
  }

  /** The mounts of sandbox `sourceId`, prepared for a new sandbox (a fork mounts the same volumes). */
  async prepareLike(sourceId: string): Promise<PreparedVolumes | undefined> {
    const mounts = await this.deps.store.mountsOf(sourceId);
    if (mounts.length === 0) return undefined;
    const resolved = [];
    for (const m of mounts) resolved.push({ record: await this.get(m.volumeId), path: m.path, readOnly: m.readOnly });
    return this.hold(resolved);
  }

  private async hold(
    resolved: Array<{ record: VolumeRecord; path: string; readOnly: boolean }>,
  ): Promise<PreparedVolumes> {
    const ids = resolved.map((r) => r.record.id);
    for (const id of ids) this.held.set(id, (this.held.get(id) ?? 0) + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      for (const id of ids) {
        const n = (this.held.get(id) ?? 1) - 1;
        if (n > 0) this.held.set(id, n);
        else this.held.delete(id);
      }
    };
    try {
      const binds: BindMount[] = [];
      for (const r of resolved) {
        binds.push({ source: await this.deps.disks.mount(r.record.id), destination: r.path, readOnly: r.readOnly });
      }
      return {
        binds,
        mounts: resolved.map((r) => ({ volumeId: r.record.id, path: r.path, readOnly: r.readOnly })),
        release,
      };
    } catch (err) {
      release();
      throw err;
    }
  }

  /** Records a new sandbox's mounts (written with its row, before it starts). */
  async record(sandboxId: string, prepared: PreparedVolumes): Promise<void> {
    await this.deps.store.setMounts(sandboxId, prepared.mounts);
  }

  async mountsOf(sandboxId: string): Promise<Array<{ name: string; path: string; readOnly: boolean }>> {
    const out = [];
    for (const m of await this.deps.store.mountsOf(sandboxId)) {
      const v = await this.deps.store.get(m.volumeId);
      out.push({ name: v?.name ?? m.volumeId, path: m.path, readOnly: m.readOnly });
    }
    return out;
  }

  async forgetSandbox(sandboxId: string): Promise<void> {
    await this.deps.store.forgetSandbox(sandboxId);
  }

  /**
   * At start: removes what volumes no longer in the db left (storage, mounts, loop devices after
   * a crash), then mounts every volume a sandbox uses, before any sandbox is restarted or woken.
   */
  async recover(): Promise<void> {
    const known = new Set((await this.deps.store.list()).map((v) => v.id));
    const reaped = await this.deps.disks.reap(known);
    if (reaped.length > 0) this.deps.logger.warn({ reaped }, "removed leftovers of deleted volumes");
    for (const id of await this.deps.store.inUse()) {
      if (!known.has(id)) continue;
      await this.deps.disks.mount(id).catch((err: unknown) => {
        this.deps.logger.error({ volume: id, err: errorMessage(err) }, "mounting a volume in use failed");
      });
    }
  }

  /** At stop: unmounts every volume on the host (running sandboxes keep their own mounts). */
  async close(): Promise<void> {
    await this.deps.disks.unmountAll();
  }
}

/** A mount path, normalised, or a 400 saying what is wrong with it. */
export function checkMountPath(path: unknown, field: string): string {
  if (typeof path !== "string" || !path.startsWith("/")) throw invalid(field, "must be an absolute path");
  if (path.length > 1024 || path.includes("\0")) throw invalid(field, "must be at most 1024 characters, without NUL");
  if (path.split("/").includes("..")) throw invalid(field, "must not contain '..'");
  const norm = posix.normalize(path).replace(/\/+$/, "") || "/";
  if (RESERVED_PATHS.includes(norm)) throw invalid(field, `a volume cannot be mounted at ${norm}`);
  const tree = RESERVED_TREES.find((t) => norm === t || norm.startsWith(`${t}/`));
  if (tree !== undefined) throw invalid(field, `a volume cannot be mounted at or below ${tree}`);
  return norm;
}
