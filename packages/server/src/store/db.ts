import Database from "better-sqlite3";

export type Db = Database.Database;

const MIGRATIONS: string[] = [
  `CREATE TABLE sandboxes (
     id TEXT PRIMARY KEY,
     template TEXT NOT NULL,
     state TEXT NOT NULL,
     metadata TEXT NOT NULL,
     env TEXT NOT NULL,
     resources TEXT NOT NULL,
     agent_token TEXT NOT NULL,
     error TEXT,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );
   CREATE INDEX sandboxes_state ON sandboxes(state);
   CREATE TABLE api_keys (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     key_hash TEXT NOT NULL UNIQUE,
     created_at TEXT NOT NULL
   );`,
  `ALTER TABLE sandboxes ADD COLUMN net_index INTEGER;
   CREATE UNIQUE INDEX sandboxes_net_index ON sandboxes(net_index) WHERE state != 'deleted';`,
  `ALTER TABLE sandboxes ADD COLUMN lifecycle TEXT NOT NULL DEFAULT '{"standbyAfterMs":15000,"hibernateAfterMs":600000,"deleteAfterMs":0}';
   ALTER TABLE sandboxes ADD COLUMN last_activity_at TEXT;
   ALTER TABLE sandboxes ADD COLUMN state_since TEXT;
   ALTER TABLE sandboxes ADD COLUMN pool TEXT;
   CREATE TABLE events (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     sandbox_id TEXT NOT NULL,
     at TEXT NOT NULL,
     type TEXT NOT NULL,
     from_state TEXT,
     to_state TEXT,
     reason TEXT NOT NULL,
     duration_ms INTEGER
   );
   CREATE INDEX events_sandbox ON events(sandbox_id, id);`,
];

/** Opens (creating if needed) the SQLite database in WAL mode and applies pending migrations. */
export function openDb(path: string): Db {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("busy_timeout = 5000");
  db.pragma("foreign_keys = ON");
  const version = db.pragma("user_version", { simple: true }) as number;
  for (let v = version; v < MIGRATIONS.length; v++) {
    const sql = MIGRATIONS[v] as string;
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return db;
}
