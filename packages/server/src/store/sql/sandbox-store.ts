import { BurrowError, ErrorCode, type LifecyclePolicy, type SandboxResources, type SandboxState } from "@burrow/core";
import { sql } from "kysely";
import { fromRow, NETWORK_REUSE_DELAY_MS, type Row, type SandboxRecord, type SandboxStore } from "../sandbox-store.js";
import { LockKey, lockForTransaction, type SqlDatabase } from "./database.js";
import type { SandboxesTable } from "./tables.js";

function toRow(record: SandboxRecord): SandboxesTable {
  return {
    id: record.id,
    template: record.template,
    state: record.state,
    metadata: JSON.stringify(record.metadata),
    env: JSON.stringify(record.env),
    resources: JSON.stringify(record.resources),
    lifecycle: JSON.stringify(record.lifecycle),
    agent_token: record.agentToken,
    net_index: record.networkIndex,
    error: record.error ?? null,
    created_at: record.createdAt,
    updated_at: record.updatedAt,
    last_activity_at: record.lastActivityAt,
    state_since: record.stateSince,
    pool: record.pool,
    template_version: record.templateVersion ?? null,
  };
}

const fromTable = (row: SandboxesTable): SandboxRecord => fromRow(row as Row);

/**
 * Sandbox rows through Kysely, on SQLite or PostgreSQL. Network index allocation is one
 * transaction: on PostgreSQL it first takes a transaction-scoped advisory lock, so allocations by
 * any connection of any node run one at a time; on SQLite, Kysely runs one transaction at a time
 * on its single connection, and SQLite's write lock covers other processes.
 */
export class SqlSandboxStore implements SandboxStore {
  constructor(private readonly database: SqlDatabase) {}

  private get db() {
    return this.database.db;
  }

  async insert(record: SandboxRecord): Promise<void> {
    await this.db.insertInto("sandboxes").values(toRow(record)).execute();
  }

  async insertWithNetworkIndex(record: Omit<SandboxRecord, "networkIndex">, maxIndex: number): Promise<SandboxRecord> {
    return this.db.transaction().execute(async (trx) => {
      await lockForTransaction(this.database, trx, LockKey.NetworkIndex);
      // Addresses of sandboxes deleted in the last minutes are not reused yet (closing TCP
      // connections to them may still be on the host).
      const quarantineSince = new Date(Date.now() - NETWORK_REUSE_DELAY_MS).toISOString();
      const used = await trx
        .selectFrom("sandboxes")
        .select("net_index")
        .distinct()
        .where("net_index", "is not", null)
        .where((eb) => eb.or([eb("state", "!=", "deleted"), eb("updated_at", ">", quarantineSince)]))
        .orderBy("net_index")
        .execute();
      let index = 0;
      for (const { net_index } of used) {
        if (net_index !== index) break;
        index++;
      }
      if (index > maxIndex) {
        throw new BurrowError(ErrorCode.ServiceUnavailable, `no free sandbox network (all ${maxIndex + 1} in use)`);
      }
      const full: SandboxRecord = { ...record, networkIndex: index };
      await trx.insertInto("sandboxes").values(toRow(full)).execute();
      return full;
    });
  }

  async get(id: string): Promise<SandboxRecord | undefined> {
    const row = await this.db.selectFrom("sandboxes").selectAll().where("id", "=", id).executeTakeFirst();
    return row ? fromTable(row) : undefined;
  }

  async byNetworkIndex(index: number): Promise<SandboxRecord | undefined> {
    const row = await this.db
      .selectFrom("sandboxes")
      .selectAll()
      .where("net_index", "=", index)
      .where("state", "!=", "deleted")
      .executeTakeFirst();
    return row ? fromTable(row) : undefined;
  }

  async listLive(): Promise<SandboxRecord[]> {
    const rows = await this.db
      .selectFrom("sandboxes")
      .selectAll()
      .where("state", "!=", "deleted")
      .orderBy("created_at")
      .orderBy("id")
      .execute();
    return rows.map(fromTable);
  }

  async listAwakeOrExpiring(): Promise<SandboxRecord[]> {
    const deleteAfter =
      this.database.dialect === "postgres"
        ? sql<boolean>`(lifecycle::jsonb ->> 'deleteAfterMs')::numeric > 0`
        : sql<boolean>`json_extract(lifecycle, '$.deleteAfterMs') > 0`;
    const rows = await this.db
      .selectFrom("sandboxes")
      .selectAll()
      .where("pool", "is", null)
      .where((eb) =>
        eb.or([
          eb("state", "in", ["running", "standby"]),
          eb.and([eb("state", "not in", ["deleted", "deleting"]), deleteAfter]),
        ]),
      )
      .execute();
    return rows.map(fromTable);
  }

  async setState(id: string, state: SandboxState, error: string | null, now: string): Promise<void> {
    await this.db
      .updateTable("sandboxes")
      .set({ state, error, updated_at: now, state_since: now })
      .where("id", "=", id)
      .execute();
  }

  async setLastActivity(id: string, at: string): Promise<void> {
    await this.db.updateTable("sandboxes").set({ last_activity_at: at }).where("id", "=", id).execute();
  }

  async update(
    id: string,
    fields: {
      lifecycle?: LifecyclePolicy;
      metadata?: Record<string, string>;
      env?: Record<string, string>;
      resources?: SandboxResources;
    },
    now: string,
  ): Promise<void> {
    const set: Partial<SandboxesTable> = {};
    if (fields.resources) set.resources = JSON.stringify(fields.resources);
    if (fields.env) set.env = JSON.stringify(fields.env);
    if (fields.lifecycle) set.lifecycle = JSON.stringify(fields.lifecycle);
    if (fields.metadata) set.metadata = JSON.stringify(fields.metadata);
    if (Object.keys(set).length === 0) return;
    await this.db
      .updateTable("sandboxes")
      .set({ ...set, updated_at: now })
      .where("id", "=", id)
      .execute();
  }

  async claim(
    id: string,
    metadata: Record<string, string>,
    env: Record<string, string>,
    lifecycle: LifecyclePolicy,
    now: string,
  ): Promise<void> {
    await this.db
      .updateTable("sandboxes")
      .set({
        pool: null,
        metadata: JSON.stringify(metadata),
        env: JSON.stringify(env),
        lifecycle: JSON.stringify(lifecycle),
        created_at: now,
        updated_at: now,
        last_activity_at: now,
      })
      .where("id", "=", id)
      .execute();
  }

  async handOut(ids: string[], pool: string): Promise<void> {
    if (ids.length === 0) return;
    await this.db
      .updateTable("sandboxes")
      .set({ pool: null })
      .where("id", "in", ids)
      .where("pool", "=", pool)
      .execute();
  }
}
