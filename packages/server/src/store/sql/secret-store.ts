import type { SecretBinding } from "@burrow/core";
import { sql } from "kysely";
import type { SecretRecord, SecretStore } from "../secret-store.js";
import type { SqlDatabase } from "./database.js";
import type { Tables } from "./tables.js";

const fromRow = (r: Tables["secrets"]): SecretRecord => ({
  name: r.name,
  sealed: Buffer.from(r.sealed),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/**
 * Sealed secrets and sandboxes' bindings through Kysely (BLOB on SQLite, BYTEA on PostgreSQL).
 * Names sort bytewise on both databases (COLLATE "C" on PostgreSQL, whose default is the locale's).
 */
export class SqlSecretStore implements SecretStore {
  constructor(private readonly database: SqlDatabase) {}

  private get db() {
    return this.database.db;
  }

  private byName() {
    return this.database.dialect === "postgres" ? sql`name COLLATE "C"` : sql`name`;
  }

  async insert(record: SecretRecord): Promise<boolean> {
    const result = await this.db
      .insertInto("secrets")
      .values({ name: record.name, sealed: record.sealed, created_at: record.createdAt, updated_at: record.updatedAt })
      .onConflict((oc) => oc.column("name").doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async upsert(record: SecretRecord): Promise<void> {
    await this.db
      .insertInto("secrets")
      .values({ name: record.name, sealed: record.sealed, created_at: record.createdAt, updated_at: record.updatedAt })
      .onConflict((oc) => oc.column("name").doUpdateSet({ sealed: record.sealed, updated_at: record.updatedAt }))
      .execute();
  }

  async get(name: string): Promise<SecretRecord | undefined> {
    const row = await this.db.selectFrom("secrets").selectAll().where("name", "=", name).executeTakeFirst();
    return row ? fromRow(row) : undefined;
  }

  async list(): Promise<SecretRecord[]> {
    const rows = await this.db.selectFrom("secrets").selectAll().orderBy(this.byName()).execute();
    return rows.map(fromRow);
  }

  async delete(name: string): Promise<boolean> {
    const result = await this.db.deleteFrom("secrets").where("name", "=", name).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  async bindings(sandboxId: string): Promise<SecretBinding[]> {
    const rows = await this.db
      .selectFrom("sandbox_secrets")
      .select(["name", "hosts", "allow_http"])
      .where("sandbox_id", "=", sandboxId)
      .orderBy(this.byName())
      .execute();
    return rows.map((r) => ({
      name: r.name,
      hosts: JSON.parse(r.hosts) as string[],
      ...(r.allow_http === 1 ? { allowHttp: true } : {}),
    }));
  }

  async setBindings(sandboxId: string, bindings: SecretBinding[]): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom("sandbox_secrets").where("sandbox_id", "=", sandboxId).execute();
      if (bindings.length === 0) return;
      await trx
        .insertInto("sandbox_secrets")
        .values(
          bindings.map((b) => ({
            sandbox_id: sandboxId,
            name: b.name,
            hosts: JSON.stringify(b.hosts),
            allow_http: b.allowHttp === true ? 1 : 0,
          })),
        )
        .execute();
    });
  }

  async boundSandboxes(name: string): Promise<string[]> {
    const rows = await this.db.selectFrom("sandbox_secrets").select("sandbox_id").where("name", "=", name).execute();
    return rows.map((r) => r.sandbox_id);
  }
}
