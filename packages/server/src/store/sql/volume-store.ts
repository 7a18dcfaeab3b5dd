import { sql } from "kysely";
import type { SandboxVolumeRecord, VolumeRecord, VolumeStore } from "../volume-store.js";
import type { SqlDatabase } from "./database.js";
import type { Tables } from "./tables.js";

const fromRow = (r: Tables["volumes"]): VolumeRecord => ({
  id: r.id,
  name: r.name,
  sizeBytes: r.size_bytes,
  token: r.token,
  createdAt: r.created_at,
});

const fromMountRow = (r: Tables["sandbox_volumes"]): SandboxVolumeRecord => ({
  sandboxId: r.sandbox_id,
  volumeId: r.volume_id,
  path: r.path,
  readOnly: r.read_only === 1,
});

/** Volumes and which sandbox mounts which where, through Kysely. Paths and ids sort bytewise. */
export class SqlVolumeStore implements VolumeStore {
  constructor(private readonly database: SqlDatabase) {}

  private get db() {
    return this.database.db;
  }

  private bytewise(column: string) {
    return this.database.dialect === "postgres" ? sql`${sql.ref(column)} COLLATE "C"` : sql.ref(column);
  }

  async insert(v: VolumeRecord): Promise<void> {
    await this.db
      .insertInto("volumes")
      .values({ id: v.id, name: v.name, size_bytes: v.sizeBytes, token: v.token, created_at: v.createdAt })
      .execute();
  }

  async get(id: string): Promise<VolumeRecord | undefined> {
    const row = await this.db.selectFrom("volumes").selectAll().where("id", "=", id).executeTakeFirst();
    return row ? fromRow(row) : undefined;
  }

  async byName(name: string): Promise<VolumeRecord | undefined> {
    const row = await this.db.selectFrom("volumes").selectAll().where("name", "=", name).executeTakeFirst();
    return row ? fromRow(row) : undefined;
  }

  async byToken(token: string): Promise<VolumeRecord | undefined> {
    const row = await this.db.selectFrom("volumes").selectAll().where("token", "=", token).executeTakeFirst();
    return row ? fromRow(row) : undefined;
  }

  async list(): Promise<VolumeRecord[]> {
    const rows = await this.db
      .selectFrom("volumes")
      .selectAll()
      .orderBy("created_at")
      .orderBy(this.bytewise("id"))
      .execute();
    return rows.map(fromRow);
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom("volumes").where("id", "=", id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async setMounts(sandboxId: string, mounts: Array<Omit<SandboxVolumeRecord, "sandboxId">>): Promise<void> {
    if (mounts.length === 0) return;
    await this.db
      .insertInto("sandbox_volumes")
      .values(
        mounts.map((m) => ({
          sandbox_id: sandboxId,
          volume_id: m.volumeId,
          path: m.path,
          read_only: m.readOnly ? 1 : 0,
        })),
      )
      .execute();
  }

  async mountsOf(sandboxId: string): Promise<SandboxVolumeRecord[]> {
    const rows = await this.db
      .selectFrom("sandbox_volumes")
      .selectAll()
      .where("sandbox_id", "=", sandboxId)
      .orderBy(this.bytewise("path"))
      .execute();
    return rows.map(fromMountRow);
  }

  /** Sorted bytewise here (PostgreSQL's SELECT DISTINCT cannot order by a collated expression). */
  async mountedBy(volumeId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom("sandbox_volumes as m")
      .innerJoin("sandboxes as s", "s.id", "m.sandbox_id")
      .select("m.sandbox_id")
      .distinct()
      .where("m.volume_id", "=", volumeId)
      .where("s.state", "!=", "deleted")
      .execute();
    return rows.map((r) => r.sandbox_id).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  }

  async inUse(): Promise<string[]> {
    const rows = await this.db
      .selectFrom("sandbox_volumes as m")
      .innerJoin("sandboxes as s", "s.id", "m.sandbox_id")
      .select("m.volume_id")
      .distinct()
      .where("s.state", "!=", "deleted")
      .execute();
    return rows.map((r) => r.volume_id);
  }

  async forgetSandbox(sandboxId: string): Promise<void> {
    await this.db.deleteFrom("sandbox_volumes").where("sandbox_id", "=", sandboxId).execute();
  }
}
