import { sql } from "kysely";
import type { E2bIngress, E2bStore, StoredOnTimeout } from "../e2b-store.js";
import type { PreviewRecord, PreviewStore } from "../preview-store.js";
import type { SqlDatabase } from "./database.js";
import type { Tables } from "./tables.js";

/** E2B's per-sandbox settings through Kysely (booleans are INTEGER 0/1 on both databases). */
export class SqlE2bStore implements E2bStore {
  constructor(private readonly database: SqlDatabase) {}

  private get db() {
    return this.database.db;
  }

  async setOnTimeout(sandboxId: string, onTimeout: StoredOnTimeout): Promise<void> {
    await this.db
      .insertInto("e2b_sandboxes")
      .values({ sandbox_id: sandboxId, on_timeout: onTimeout })
      .onConflict((oc) => oc.column("sandbox_id").doUpdateSet({ on_timeout: onTimeout }))
      .execute();
  }

  async onTimeout(sandboxId: string): Promise<StoredOnTimeout | undefined> {
    const row = await this.db
      .selectFrom("e2b_sandboxes")
      .select("on_timeout")
      .where("sandbox_id", "=", sandboxId)
      .executeTakeFirst();
    return row?.on_timeout as StoredOnTimeout | undefined;
  }

  async setAutoPauseMemory(sandboxId: string, keepMemory: boolean): Promise<void> {
    await this.db
      .updateTable("e2b_sandboxes")
      .set({ auto_pause_memory: keepMemory ? 1 : 0 })
      .where("sandbox_id", "=", sandboxId)
      .execute();
  }

  async setPausedMemory(sandboxId: string, keepMemory: boolean | undefined): Promise<void> {
    await this.db
      .updateTable("e2b_sandboxes")
      .set({ paused_memory: keepMemory === undefined ? null : keepMemory ? 1 : 0 })
      .where("sandbox_id", "=", sandboxId)
      .execute();
  }

  async bootsFreshOnConnect(sandboxId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom("e2b_sandboxes")
      .select(["auto_pause_memory", "paused_memory"])
      .where("sandbox_id", "=", sandboxId)
      .executeTakeFirst();
    if (row === undefined) return false;
    return row.paused_memory === null ? row.auto_pause_memory === 0 : row.paused_memory === 0;
  }

  async setIngress(sandboxId: string, ingress: E2bIngress): Promise<void> {
    await this.db
      .updateTable("e2b_sandboxes")
      .set({ traffic_token: ingress.trafficToken, mask_request_host: ingress.maskRequestHost })
      .where("sandbox_id", "=", sandboxId)
      .execute();
  }

  async ingress(sandboxId: string): Promise<E2bIngress | undefined> {
    const row = await this.db
      .selectFrom("e2b_sandboxes")
      .select(["traffic_token", "mask_request_host"])
      .where("sandbox_id", "=", sandboxId)
      .executeTakeFirst();
    return row && { trafficToken: row.traffic_token, maskRequestHost: row.mask_request_host };
  }

  async forget(sandboxId: string): Promise<void> {
    await this.db.deleteFrom("e2b_sandboxes").where("sandbox_id", "=", sandboxId).execute();
  }
}

const fromRow = (r: Tables["previews"]): PreviewRecord => ({
  id: r.id,
  sandboxId: r.sandbox_id,
  port: r.port,
  public: r.public === 1,
  tokenHash: r.token_hash,
  expiresAt: r.expires_at,
  createdAt: r.created_at,
});

/** Preview links through Kysely. */
export class SqlPreviewStore implements PreviewStore {
  constructor(private readonly database: SqlDatabase) {}

  private get db() {
    return this.database.db;
  }

  async insert(p: PreviewRecord): Promise<void> {
    await this.db
      .insertInto("previews")
      .values({
        id: p.id,
        sandbox_id: p.sandboxId,
        port: p.port,
        public: p.public ? 1 : 0,
        token_hash: p.tokenHash,
        expires_at: p.expiresAt,
        created_at: p.createdAt,
      })
      .execute();
  }

  /** Oldest first; ties in created_at in insertion order on SQLite (rowid), by id on PostgreSQL. */
  async list(sandboxId: string): Promise<PreviewRecord[]> {
    const tie = this.database.dialect === "sqlite" ? sql`rowid` : sql`id`;
    const rows = await this.db
      .selectFrom("previews")
      .selectAll()
      .where("sandbox_id", "=", sandboxId)
      .orderBy("created_at")
      .orderBy(tie)
      .execute();
    return rows.map(fromRow);
  }

  async byTokenHash(hash: string): Promise<PreviewRecord | undefined> {
    const row = await this.db.selectFrom("previews").selectAll().where("token_hash", "=", hash).executeTakeFirst();
    return row ? fromRow(row) : undefined;
  }

  async publicFor(sandboxId: string, port: number): Promise<PreviewRecord[]> {
    const rows = await this.db
      .selectFrom("previews")
      .selectAll()
      .where("sandbox_id", "=", sandboxId)
      .where("port", "=", port)
      .where("public", "=", 1)
      .execute();
    return rows.map(fromRow);
  }

  async delete(sandboxId: string, id: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom("previews")
      .where("sandbox_id", "=", sandboxId)
      .where("id", "=", id)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async deleteForSandbox(sandboxId: string): Promise<void> {
    await this.db.deleteFrom("previews").where("sandbox_id", "=", sandboxId).execute();
  }
}
