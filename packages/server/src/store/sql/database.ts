import Database from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect } from "kysely";
import pg from "pg";
import type { Tables } from "./tables.js";

/** Which database a SqlDatabase speaks to. */
export type SqlDialectName = "sqlite" | "postgres";

/** A Kysely handle on SQLite (better-sqlite3) or PostgreSQL (pg), and which one it is. */
export interface SqlDatabase {
  db: Kysely<Tables>;
  dialect: SqlDialectName;
  close(): Promise<void>;
}

const INT8_OID = 20;
const NUMERIC_OID = 1700;

/** True for `postgres://` and `postgresql://` URLs (BURROW_DATABASE_URL). */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

/**
 * Opens a database: a `postgres://` URL is PostgreSQL (a pool of `poolSize` connections); anything
 * else is a SQLite file path (WAL, busy timeout, foreign keys on — as openDb). Migrations are not
 * applied here: call migrateToLatest.
 */
export function openSqlDatabase(target: string, options: { poolSize?: number } = {}): SqlDatabase {
  if (isPostgresUrl(target)) {
    // BIGINT and NUMERIC come back from pg as strings; our values (bytes, ids, milliseconds) fit a
    // JS number, so they are parsed on this pool's connections only (no global type parser).
    const types = {
      getTypeParser: (oid: number, format?: string) => {
        if (oid === INT8_OID || oid === NUMERIC_OID) return (value: string) => Number(value);
        return pg.types.getTypeParser(oid, format as "text");
      },
    };
    const pool = new pg.Pool({ connectionString: target, max: options.poolSize ?? 10, types });
    const db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) });
    return { db, dialect: "postgres", close: () => db.destroy() };
  }
  const path = target.replace(/^sqlite:(\/\/)?/i, "");
  const sqlite = new Database(path);
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("synchronous = NORMAL");
  sqlite.pragma("busy_timeout = 5000");
  sqlite.pragma("foreign_keys = ON");
  const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: sqlite }) });
  return { db, dialect: "sqlite", close: () => db.destroy() };
}
