import Database from "better-sqlite3";

export type Db = Database.Database;

/** One schema step: SQL, or a function for steps that must look at the schema first. */
type Migration = string | ((db: Db) => void);

/** Adds a column unless it exists (dbs whose stores added it themselves, before migration 4). */
function addColumn(db: Db, table: string, column: string, definition: string): void {
  const columns = db.prepare(`SELECT name FROM pragma_table_info('${table}')`).pluck().all() as string[];
  if (!columns.includes(column)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${definition}`);
}

/**
 * Every table and column, in order; `user_version` counts the steps applied. A step never
 * changes once released: a new column or table is a new step at the end.
 */
const MIGRATIONS: Migration[] = [
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
  // Tables that releases up to 0.1.0 created in the stores' constructors (IF NOT EXISTS, so a db
  // made by such a release, at user_version 3 with some or all of them, migrates too).
  (db) => {
    db.exec(`
      CREATE TABLE IF NOT EXISTS checkpoints (
        id TEXT PRIMARY KEY,
        sandbox_id TEXT NOT NULL,
        name TEXT,
        mode TEXT NOT NULL,
        parent_id TEXT,
        manifest_hash TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        stored_bytes INTEGER NOT NULL,
        file_count INTEGER NOT NULL,
        paused_ms INTEGER NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS checkpoints_sandbox ON checkpoints(sandbox_id, created_at);
      CREATE TABLE IF NOT EXISTS blob_refs (
        owner TEXT NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (owner, hash)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS blob_refs_hash ON blob_refs(hash);
      CREATE TABLE IF NOT EXISTS checkpoint_heads (
        sandbox_id TEXT PRIMARY KEY,
        checkpoint_id TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS sandbox_bases (
        sandbox_id TEXT PRIMARY KEY,
        checkpoint_id TEXT NOT NULL,
        manifest_hash TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS e2b_sandboxes (
        sandbox_id TEXT PRIMARY KEY,
        on_timeout TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS sandbox_egress (
        sandbox_id TEXT PRIMARY KEY,
        policy TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS previews (
        id TEXT PRIMARY KEY,
        sandbox_id TEXT NOT NULL,
        port INTEGER NOT NULL,
        public INTEGER NOT NULL,
        token_hash TEXT UNIQUE,
        expires_at TEXT,
        created_at TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS previews_sandbox ON previews(sandbox_id, port);
      CREATE TABLE IF NOT EXISTS secrets (
        name TEXT PRIMARY KEY,
        sealed BLOB NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS sandbox_secrets (
        sandbox_id TEXT NOT NULL,
        name TEXT NOT NULL,
        hosts TEXT NOT NULL,
        PRIMARY KEY (sandbox_id, name)
      );
    `);
    // Checkpoints staged in the background (status 'storing') came after the table.
    addColumn(db, "checkpoints", "status", "TEXT NOT NULL DEFAULT 'ready'");
  },
  // Secrets brokered into plain HTTP are opt-in per binding; bindings made before read as HTTPS-only.
  (db) => addColumn(db, "sandbox_secrets", "allow_http", "INTEGER NOT NULL DEFAULT 0"),
  // E2B's files-only pause (chosen at create for the timeout, or by one pause call), and its
  // network options for ingress: a traffic token required on every port, a Host to send on.
  (db) => {
    addColumn(db, "e2b_sandboxes", "auto_pause_memory", "INTEGER NOT NULL DEFAULT 1");
    addColumn(db, "e2b_sandboxes", "paused_memory", "INTEGER");
    addColumn(db, "e2b_sandboxes", "traffic_token", "TEXT");
    addColumn(db, "e2b_sandboxes", "mask_request_host", "TEXT");
  },
  // Templates: versions are stacks of layers; sandboxes keep the version they were created from
  // (NULL for sandboxes of releases before versions: they run the template directory's rootfs).
  `ALTER TABLE sandboxes ADD COLUMN template_version TEXT;
   CREATE INDEX sandboxes_template_version ON sandboxes(template_version) WHERE state != 'deleted';
   CREATE TABLE template_layers (
     digest TEXT PRIMARY KEY,
     dir TEXT NOT NULL,
     external INTEGER NOT NULL,
     size_bytes INTEGER NOT NULL,
     created_at TEXT NOT NULL
   );
   CREATE TABLE templates (
     name TEXT PRIMARY KEY,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );
   CREATE TABLE template_versions (
     id TEXT PRIMARY KEY,
     template_name TEXT NOT NULL,
     layers TEXT NOT NULL,
     config TEXT NOT NULL,
     snapshot TEXT,
     source TEXT,
     size_bytes INTEGER NOT NULL,
     created_at TEXT NOT NULL
   );
   CREATE INDEX template_versions_name ON template_versions(template_name, created_at);
   CREATE TABLE template_tags (
     template_name TEXT NOT NULL,
     tag TEXT NOT NULL,
     version_id TEXT NOT NULL,
     PRIMARY KEY (template_name, tag)
   ) WITHOUT ROWID;
   CREATE TABLE template_builds (
     id TEXT PRIMARY KEY,
     template_name TEXT NOT NULL,
     version_id TEXT NOT NULL,
     status TEXT NOT NULL,
     request TEXT NOT NULL,
     steps_total INTEGER NOT NULL,
     steps_done INTEGER NOT NULL,
     cache_hits INTEGER NOT NULL,
     error TEXT,
     started_at TEXT NOT NULL,
     finished_at TEXT
   );
   CREATE TABLE template_build_logs (
     build_id TEXT NOT NULL,
     seq INTEGER NOT NULL,
     at TEXT NOT NULL,
     level TEXT NOT NULL,
     message TEXT NOT NULL,
     step INTEGER,
     PRIMARY KEY (build_id, seq)
   ) WITHOUT ROWID;`,
  // Volumes: named storage kept apart from sandboxes, and which sandbox mounts which where.
  `CREATE TABLE volumes (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     size_bytes INTEGER NOT NULL,
     token TEXT NOT NULL,
     created_at TEXT NOT NULL
   );
   CREATE TABLE sandbox_volumes (
     sandbox_id TEXT NOT NULL,
     volume_id TEXT NOT NULL,
     path TEXT NOT NULL,
     read_only INTEGER NOT NULL,
     PRIMARY KEY (sandbox_id, path)
   );
   CREATE INDEX sandbox_volumes_volume ON sandbox_volumes(volume_id);`,
  // Webhooks, and their deliveries: an outbox that retries survive a restart from.
  `CREATE TABLE webhooks (
     id TEXT PRIMARY KEY,
     url TEXT NOT NULL,
     events TEXT NOT NULL,
     secret TEXT NOT NULL,
     created_at TEXT NOT NULL
   );
   CREATE TABLE webhook_deliveries (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     webhook_id TEXT NOT NULL,
     event TEXT NOT NULL,
     sandbox_id TEXT,
     status TEXT NOT NULL,
     payload TEXT NOT NULL,
     attempts TEXT NOT NULL,
     created_at TEXT NOT NULL,
     next_attempt_at TEXT
   );
   CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
   CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, seq);
   CREATE INDEX webhook_deliveries_order ON webhook_deliveries(webhook_id, sandbox_id, seq);`,
];

/** The schema version a db has after openDb. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** Opens (creating if needed) the SQLite database in WAL mode and applies pending migrations. */
export function openDb(path: string): Db {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("busy_timeout = 5000");
  db.pragma("foreign_keys = ON");
  applyMigrations(db);
  return db;
}

/** Applies the migrations after the db's `user_version`, up to `target` (tests stop early). */
export function applyMigrations(db: Db, target = MIGRATIONS.length): void {
  const version = db.pragma("user_version", { simple: true }) as number;
  for (let v = version; v < target; v++) {
    const step = MIGRATIONS[v] as Migration;
    db.transaction(() => {
      if (typeof step === "string") db.exec(step);
      else step(db);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
