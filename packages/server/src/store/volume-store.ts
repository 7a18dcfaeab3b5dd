import type { Db } from "./db.js";

/** A volume as stored. */
export interface VolumeRecord {
  id: string;
  name: string;
  sizeBytes: number;
  /** Bearer token of the volume's content API (E2B's volume token). */
  token: string;
  createdAt: string;
}

/** A volume mounted into a sandbox. */
export interface SandboxVolumeRecord {
  sandboxId: string;
  volumeId: string;
  path: string;
  readOnly: boolean;
}

interface Row {
  id: string;
  name: string;
  size_bytes: number;
  token: string;
  created_at: string;
}

interface MountRow {
  sandbox_id: string;
  volume_id: string;
  path: string;
  read_only: number;
}

const fromRow = (r: Row): VolumeRecord => ({
  id: r.id,
  name: r.name,
  sizeBytes: r.size_bytes,
  token: r.token,
  createdAt: r.created_at,
});

const fromMountRow = (r: MountRow): SandboxVolumeRecord => ({
  sandboxId: r.sandbox_id,
  volumeId: r.volume_id,
  path: r.path,
  readOnly: r.read_only === 1,
});

/** Volumes and the sandboxes that mount them (tables of migration 8). */
export interface VolumeStore {
  insert(v: VolumeRecord): Promise<void>;
  get(id: string): Promise<VolumeRecord | undefined>;
  byName(name: string): Promise<VolumeRecord | undefined>;
  byToken(token: string): Promise<VolumeRecord | undefined>;
  list(): Promise<VolumeRecord[]>;
  delete(id: string): Promise<boolean>;
  /** Records the volumes a sandbox mounts (at its create, before it starts), in one transaction. */
  setMounts(sandboxId: string, mounts: Array<Omit<SandboxVolumeRecord, "sandboxId">>): Promise<void>;
  mountsOf(sandboxId: string): Promise<SandboxVolumeRecord[]>;
  /** Sandboxes not deleted that mount the volume. */
  mountedBy(volumeId: string): Promise<string[]>;
  /** Volumes that sandboxes not deleted mount. */
  inUse(): Promise<string[]>;
  forgetSandbox(sandboxId: string): Promise<void>;
}

/** Volumes in SQLite. */
export class SqliteVolumeStore implements VolumeStore {
  constructor(private readonly db: Db) {}

  async insert(v: VolumeRecord): Promise<void> {
    this.db
      .prepare("INSERT INTO volumes (id, name, size_bytes, token, created_at) VALUES (?, ?, ?, ?, ?)")
      .run(v.id, v.name, v.sizeBytes, v.token, v.createdAt);
  }

  async get(id: string): Promise<VolumeRecord | undefined> {
    const row = this.db.prepare("SELECT * FROM volumes WHERE id = ?").get(id) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  async byName(name: string): Promise<VolumeRecord | undefined> {
    const row = this.db.prepare("SELECT * FROM volumes WHERE name = ?").get(name) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  async byToken(token: string): Promise<VolumeRecord | undefined> {
    const row = this.db.prepare("SELECT * FROM volumes WHERE token = ?").get(token) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  async list(): Promise<VolumeRecord[]> {
    return (this.db.prepare("SELECT * FROM volumes ORDER BY created_at, id").all() as Row[]).map(fromRow);
  }

  async delete(id: string): Promise<boolean> {
    return this.db.prepare("DELETE FROM volumes WHERE id = ?").run(id).changes > 0;
  }

  /** Records the volumes a sandbox mounts (at its create, before it starts). */
  async setMounts(sandboxId: string, mounts: Array<Omit<SandboxVolumeRecord, "sandboxId">>): Promise<void> {
    const insert = this.db.prepare(
      "INSERT INTO sandbox_volumes (sandbox_id, volume_id, path, read_only) VALUES (?, ?, ?, ?)",
    );
    this.db.transaction(() => {
      for (const m of mounts) insert.run(sandboxId, m.volumeId, m.path, m.readOnly ? 1 : 0);
    })();
  }

  async mountsOf(sandboxId: string): Promise<SandboxVolumeRecord[]> {
    const rows = this.db
      .prepare("SELECT * FROM sandbox_volumes WHERE sandbox_id = ? ORDER BY path")
      .all(sandboxId) as MountRow[];
    return rows.map(fromMountRow);
  }

  /** Sandboxes not deleted that mount the volume. */
  async mountedBy(volumeId: string): Promise<string[]> {
    return this.db
      .prepare(
        `SELECT DISTINCT m.sandbox_id FROM sandbox_volumes m JOIN sandboxes s ON s.id = m.sandbox_id
         WHERE m.volume_id = ? AND s.state != 'deleted' ORDER BY m.sandbox_id`,
      )
      .pluck()
      .all(volumeId) as string[];
  }

  /** Volumes that sandboxes not deleted mount. */
  async inUse(): Promise<string[]> {
    return this.db
      .prepare(
        `SELECT DISTINCT m.volume_id FROM sandbox_volumes m JOIN sandboxes s ON s.id = m.sandbox_id
         WHERE s.state != 'deleted'`,
      )
      .pluck()
      .all() as string[];
  }

  async forgetSandbox(sandboxId: string): Promise<void> {
    this.db.prepare("DELETE FROM sandbox_volumes WHERE sandbox_id = ?").run(sandboxId);
  }
}
