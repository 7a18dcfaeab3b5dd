import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { openSqlDatabase, type SqlDatabase } from "../../packages/server/src/store/sql/database.js";
import { migrateToLatest } from "../../packages/server/src/store/sql/migrations.js";
import { type PostgresService, startPostgres } from "./postgres.js";

/**
 * The databases the SQL store contract runs on: a SQLite file, and a real PostgreSQL (one server
 * per test file, started lazily; a new database per `open`, so tests do not see each other's rows).
 */
export type BackendName = "sqlite" | "postgres";
export const BACKENDS: BackendName[] = ["sqlite", "postgres"];

export class SqlBackends {
  private postgres: PostgresService | undefined;
  private readonly dirs: string[] = [];
  private readonly open: SqlDatabase[] = [];
  private count = 0;

  /** A PostgreSQL URL of a new empty database on this file's server. */
  async postgresUrl(): Promise<string> {
    this.postgres ??= await startPostgres();
    const name = `t${process.pid}_${++this.count}`;
    const admin = new pg.Client({ connectionString: this.postgres.url });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${name}`);
    } finally {
      await admin.end();
    }
    return this.postgres.url.replace(/\/burrow$/, `/${name}`);
  }

  /** A new SQLite file path in a temp dir removed by closeAll. */
  sqlitePath(): string {
    const dir = mkdtempSync(join(tmpdir(), "burrow-sql-"));
    this.dirs.push(dir);
    return join(dir, "burrow.db");
  }

  /** A new migrated database of this kind; `url` opens another pool on an existing one. */
  async database(backend: BackendName, url?: string): Promise<SqlDatabase> {
    const target = url ?? (backend === "postgres" ? await this.postgresUrl() : this.sqlitePath());
    const database = openSqlDatabase(target);
    this.open.push(database);
    await migrateToLatest(database);
    return database;
  }

  /** Closes the databases opened since the last call (afterEach). */
  async closeDatabases(): Promise<void> {
    for (const database of this.open.splice(0)) await database.close();
    for (const dir of this.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }

  /** Closes everything and stops PostgreSQL (afterAll). */
  async stop(): Promise<void> {
    await this.closeDatabases();
    await this.postgres?.stop();
    this.postgres = undefined;
  }
}
