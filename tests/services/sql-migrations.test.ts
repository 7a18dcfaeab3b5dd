import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { applyMigrations, type Db, openDb, SCHEMA_VERSION } from "../../packages/server/src/store/db.js";
import { openSqlDatabase } from "../../packages/server/src/store/sql/database.js";
import { MIGRATION_NAMES, migrateToLatest } from "../../packages/server/src/store/sql/migrations.js";
import { SqlBackends } from "./sql-backends.js";

const SLOW = { timeout: 240_000 };

/** Table → columns (name, type, not null, default, pk) and index names, without the migrator's tables. */
function schemaOf(db: Db): Record<string, unknown> {
  const tables = db
    .prepare(
      `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
         AND name NOT LIKE 'kysely_%' ORDER BY name`,
    )
    .pluck()
    .all() as string[];
  const out: Record<string, unknown> = {};
  for (const t of tables) {
    out[t] = {
      columns: db.prepare(`SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info('${t}')`).all(),
      indexes: db.prepare(`SELECT name FROM pragma_index_list('${t}') ORDER BY name`).pluck().all(),
      withoutRowid: /WITHOUT ROWID/i.test(
        db.prepare("SELECT sql FROM sqlite_master WHERE name = ?").pluck().get(t) as string,
      ),
    };
  }
  return out;
}

const backends = new SqlBackends();
afterEach(() => backends.closeDatabases());
afterAll(() => backends.stop(), SLOW.timeout);

async function migrateFile(path: string, target?: number): Promise<void> {
  const database = openSqlDatabase(path);
  try {
    await migrateToLatest(database, target);
  } finally {
    await database.close();
  }
}

describe("one set of migrations (Kysely) for SQLite and PostgreSQL", () => {
  it("has a step for every step of db.ts's SQLite migrations", () => {
    expect(MIGRATION_NAMES).toHaveLength(SCHEMA_VERSION);
  });

  it("a new SQLite db gets the same schema as db.ts's migrations make, and user_version follows", async () => {
    const legacyPath = backends.sqlitePath();
    const legacy = openDb(legacyPath);
    const kyselyPath = backends.sqlitePath();
    await migrateFile(kyselyPath);
    const migrated = new Database(kyselyPath);
    try {
      expect(schemaOf(migrated)).toEqual(schemaOf(legacy));
      expect(migrated.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    } finally {
      migrated.close();
      legacy.close();
    }
  });

  it("an existing SQLite db (user_version 3, with rows) continues at step 4 and keeps its rows", async () => {
    const path = backends.sqlitePath();
    const old = new Database(path);
    applyMigrations(old, 3);
    old
      .prepare(
        `INSERT INTO sandboxes (id, template, state, metadata, env, resources, agent_token, created_at, updated_at, net_index)
         VALUES ('sb_old', 'base', 'hibernated', '{}', '{}', '{}', 't', '2025-01-01', '2025-01-01', 4)`,
      )
      .run();
    old.prepare("INSERT INTO api_keys (id, name, key_hash, created_at) VALUES ('k1', 'ci', 'h', '2025-01-01')").run();
    old.close();

    await migrateFile(path);
    const db = new Database(path);
    const fresh = openDb(backends.sqlitePath());
    try {
      expect(db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
      expect(db.prepare("SELECT name FROM kysely_migration ORDER BY name").pluck().all()).toEqual(MIGRATION_NAMES);
      expect(db.prepare("SELECT net_index, state FROM sandboxes WHERE id = 'sb_old'").get()).toEqual({
        net_index: 4,
        state: "hibernated",
      });
      expect(db.prepare("SELECT name FROM api_keys").pluck().all()).toEqual(["ci"]);
      expect(schemaOf(db)).toEqual(schemaOf(fresh));
    } finally {
      db.close();
      fresh.close();
    }
  });

  it("a SQLite db already at the latest user_version runs no step, and db.ts's openDb still opens it", async () => {
    const path = backends.sqlitePath();
    openDb(path).close();
    await migrateFile(path);
    await migrateFile(path);
    const db = openDb(path);
    try {
      expect(db.prepare("SELECT count(*) FROM kysely_migration").pluck().get()).toBe(SCHEMA_VERSION);
      expect(db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    } finally {
      db.close();
    }
  });

  it("refuses a SQLite db from a newer release", async () => {
    const path = backends.sqlitePath();
    const db = new Database(path);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    await expect(migrateFile(path)).rejects.toThrow(/newer than this server's/);
  });

  it("PostgreSQL gets the same tables and columns as SQLite, and migrating twice is a no-op", SLOW, async () => {
    const url = await backends.postgresUrl();
    await migrateFile(url);
    await migrateFile(url);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const sqlite = openDb(backends.sqlitePath());
    try {
      const { rows } = await client.query<{ table_name: string; column_name: string }>(
        `SELECT table_name, column_name FROM information_schema.columns
           WHERE table_schema = 'public' AND table_name NOT LIKE 'kysely_%' ORDER BY table_name, ordinal_position`,
      );
      const pgColumns = rows.map((r) => `${r.table_name}.${r.column_name}`);
      const sqliteColumns = Object.entries(schemaOf(sqlite)).flatMap(([table, shape]) =>
        (shape as { columns: { name: string }[] }).columns.map((c) => `${table}.${c.name}`),
      );
      expect(pgColumns).toEqual(sqliteColumns);
      const applied = await client.query("SELECT name FROM kysely_migration ORDER BY name");
      expect(applied.rows.map((r: { name: string }) => r.name)).toEqual(MIGRATION_NAMES);
    } finally {
      await client.end();
      sqlite.close();
    }
  });
});
