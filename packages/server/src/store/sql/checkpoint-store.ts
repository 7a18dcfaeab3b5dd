import { type Kysely, sql, type Transaction } from "kysely";
import {
  type CheckpointRecord,
  type CheckpointStore,
  fromRow,
  type Row,
  type SandboxBase,
} from "../checkpoint-store.js";
import { LockKey, lockForTransaction, type SqlDatabase } from "./database.js";
import type { Tables } from "./tables.js";

type Executor = Kysely<Tables> | Transaction<Tables>;

async function addRefs(db: Executor, owner: string, hashes: Iterable<string>): Promise<void> {
  const rows = [...new Set(hashes)].map((hash) => ({ owner, hash }));
  // Batches keep each statement under SQLite's and PostgreSQL's bound-parameter limits.
  for (let i = 0; i < rows.length; i += 500) {
    await db
      .insertInto("blob_refs")
      .values(rows.slice(i, i + 500))
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
}

async function setHead(db: Executor, sandboxId: string, checkpointId: string | null): Promise<void> {
  if (checkpointId === null) {
    await db.deleteFrom("checkpoint_heads").where("sandbox_id", "=", sandboxId).execute();
    return;
  }
  await db
    .insertInto("checkpoint_heads")
    .values({ sandbox_id: sandboxId, checkpoint_id: checkpointId })
    .onConflict((oc) => oc.column("sandbox_id").doUpdateSet({ checkpoint_id: checkpointId }))
    .execute();
}

/**
 * Checkpoint rows through Kysely, on SQLite or PostgreSQL; each multi-statement write is one
 * transaction. Inserts and deletes take the checkpoint-tree advisory lock on PostgreSQL: a delete
 * reads the parent and moves the children to it, which must not interleave with another node
 * deleting that parent or a child (row locks alone would not do: READ COMMITTED re-checks only
 * the rows an UPDATE matched when it started, so a child moved meanwhile would keep a deleted
 * parent).
 */
export class SqlCheckpointStore implements CheckpointStore {
  constructor(private readonly database: SqlDatabase) {}

  private get db() {
    return this.database.db;
  }

  async insert(record: CheckpointRecord, hashes: Iterable<string>): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await lockForTransaction(this.database, trx, LockKey.CheckpointTree);
      await trx
        .insertInto("checkpoints")
        .values({
          id: record.id,
          sandbox_id: record.sandboxId,
          name: record.name,
          mode: record.mode,
          parent_id: record.parentId,
          manifest_hash: record.manifestHash,
          size_bytes: record.sizeBytes,
          stored_bytes: record.storedBytes,
          file_count: record.fileCount,
          paused_ms: record.pausedMs,
          created_at: record.createdAt,
          status: record.status,
        })
        .execute();
      await addRefs(trx, record.id, hashes);
      await setHead(trx, record.sandboxId, record.id);
    });
  }

  async complete(id: string, manifestHash: string, storedBytes: number, hashes: Iterable<string>): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const result = await trx
        .updateTable("checkpoints")
        .set({ manifest_hash: manifestHash, stored_bytes: storedBytes, status: "ready" })
        .where("id", "=", id)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) return false;
      await addRefs(trx, id, hashes);
      return true;
    });
  }

  async listStoring(): Promise<CheckpointRecord[]> {
    const rows = await this.db
      .selectFrom("checkpoints")
      .selectAll()
      .where("status", "=", "storing")
      .orderBy("created_at")
      .execute();
    return rows.map((r) => fromRow(r as Row));
  }

  async addRefs(owner: string, hashes: Iterable<string>): Promise<void> {
    await addRefs(this.db, owner, hashes);
  }

  async get(id: string): Promise<CheckpointRecord | undefined> {
    const row = await this.db.selectFrom("checkpoints").selectAll().where("id", "=", id).executeTakeFirst();
    return row ? fromRow(row as Row) : undefined;
  }

  /** Oldest first; ties in created_at in insertion order on SQLite (rowid), by id on PostgreSQL. */
  async list(sandboxId: string): Promise<CheckpointRecord[]> {
    const tie = this.database.dialect === "sqlite" ? sql`rowid` : sql`id`;
    const rows = await this.db
      .selectFrom("checkpoints")
      .selectAll()
      .where("sandbox_id", "=", sandboxId)
      .orderBy("created_at")
      .orderBy(tie)
      .execute();
    return rows.map((r) => fromRow(r as Row));
  }

  async head(sandboxId: string): Promise<string | null> {
    const row = await this.db
      .selectFrom("checkpoint_heads")
      .select("checkpoint_id")
      .where("sandbox_id", "=", sandboxId)
      .executeTakeFirst();
    return row?.checkpoint_id ?? null;
  }

  async setHead(sandboxId: string, checkpointId: string | null): Promise<void> {
    await setHead(this.db, sandboxId, checkpointId);
  }

  async base(sandboxId: string): Promise<SandboxBase | undefined> {
    const row = await this.db
      .selectFrom("sandbox_bases")
      .select(["checkpoint_id", "manifest_hash"])
      .where("sandbox_id", "=", sandboxId)
      .executeTakeFirst();
    return row ? { checkpointId: row.checkpoint_id, manifestHash: row.manifest_hash } : undefined;
  }

  async setBase(sandboxId: string, base: SandboxBase, hashes: Iterable<string>): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto("sandbox_bases")
        .values({ sandbox_id: sandboxId, checkpoint_id: base.checkpointId, manifest_hash: base.manifestHash })
        .onConflict((oc) =>
          oc.column("sandbox_id").doUpdateSet({ checkpoint_id: base.checkpointId, manifest_hash: base.manifestHash }),
        )
        .execute();
      await addRefs(trx, sandboxId, hashes);
    });
  }

  async delete(id: string): Promise<string[]> {
    return this.db.transaction().execute(async (trx) => {
      await lockForTransaction(this.database, trx, LockKey.CheckpointTree);
      const record = await trx.selectFrom("checkpoints").selectAll().where("id", "=", id).executeTakeFirst();
      if (!record) return [];
      const refs = await trx.selectFrom("blob_refs").select("hash").where("owner", "=", id).execute();
      await trx.deleteFrom("blob_refs").where("owner", "=", id).execute();
      await trx.updateTable("checkpoints").set({ parent_id: record.parent_id }).where("parent_id", "=", id).execute();
      if (record.parent_id === null) await trx.deleteFrom("checkpoint_heads").where("checkpoint_id", "=", id).execute();
      else {
        await trx
          .updateTable("checkpoint_heads")
          .set({ checkpoint_id: record.parent_id })
          .where("checkpoint_id", "=", id)
          .execute();
      }
      await trx.deleteFrom("checkpoints").where("id", "=", id).execute();
      return refs.map((r) => r.hash);
    });
  }

  async orphanedCheckpoints(): Promise<string[]> {
    const rows = await this.db
      .selectFrom("checkpoints as c")
      .innerJoin("sandboxes as s", "s.id", "c.sandbox_id")
      .select("c.id")
      .where("s.state", "=", "deleted")
      .execute();
    return rows.map((r) => r.id);
  }

  async releaseDeletedForks(): Promise<string[]> {
    return this.db.transaction().execute(async (trx) => {
      const owners = await trx
        .selectFrom("sandbox_bases as b")
        .innerJoin("sandboxes as s", "s.id", "b.sandbox_id")
        .select("b.sandbox_id")
        .where("s.state", "=", "deleted")
        .execute();
      const hashes: string[] = [];
      for (const { sandbox_id: owner } of owners) {
        // DELETE … RETURNING: a hash is reported by the one transaction that removed its reference.
        const removed = await trx.deleteFrom("blob_refs").where("owner", "=", owner).returning("hash").execute();
        hashes.push(...removed.map((r) => r.hash));
        await trx.deleteFrom("sandbox_bases").where("sandbox_id", "=", owner).execute();
      }
      return hashes;
    });
  }

  async isReferenced(hash: string): Promise<boolean> {
    const row = await this.db
      .selectFrom("blob_refs")
      .select("hash")
      .where("hash", "=", hash)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  async liveBaseManifests(): Promise<Set<string>> {
    const rows = await this.db
      .selectFrom("sandbox_bases as b")
      .innerJoin("sandboxes as s", "s.id", "b.sandbox_id")
      .select("b.manifest_hash")
      .distinct()
      .where("s.state", "!=", "deleted")
      .execute();
    return new Set(rows.map((r) => r.manifest_hash));
  }
}
