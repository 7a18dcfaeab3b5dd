import Database from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect, sql, type Transaction } from "kysely";
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
    // A connection lost while idle (server restart, failover, or the pool closing) is dropped and
    // the next query opens another; a query's own errors reach its caller. Without a listener,
    // such an 'error' event would end the process.
    pool.on("error", () => undefined);
    pool.on("connect", (client) => client.on("error", () => undefined));
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

/** Keys of the PostgreSQL advisory locks that serialize a kind of write across every node. */
export const LockKey = {
  /** Network index allocation (read the used indexes, insert the next). */
  NetworkIndex: 0x6275_7201,
  /** Checkpoint tree changes (an insert names a parent; a delete moves children to the parent). */
  CheckpointTree: 0x6275_7202,
} as const;

/**
 * Takes a transaction-scoped advisory lock on PostgreSQL (released at commit or rollback), so
 * transactions that take the same key run one at a time on every node. Nothing on SQLite: Kysely
 * runs one transaction at a time on its single connection, and SQLite's write lock covers other
 * processes.
 */
export async function lockForTransaction(
  database: SqlDatabase,
  trx: Transaction<Tables>,
  key: (typeof LockKey)[keyof typeof LockKey],
): Promise<void> {
  if (database.dialect === "postgres") await sql`SELECT pg_advisory_xact_lock(${key})`.execute(trx);
}
