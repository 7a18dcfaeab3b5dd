import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { SqliteCheckpointStore } from "../src/store/checkpoint-store.js";
import { applyMigrations, type Db, openDb, SCHEMA_VERSION } from "../src/store/db.js";
import { SqliteE2bStore } from "../src/store/e2b-store.js";
import { SqliteEgressStore } from "../src/store/egress-store.js";
import { SqlitePreviewStore } from "../src/store/preview-store.js";
import { SqliteSecretStore } from "../src/store/secret-store.js";

// What the stores of release 0.1.0 ran in their constructors, on a db at user_version 3.
const OLD_CONSTRUCTOR_SCHEMA = `
  CREATE TABLE IF NOT EXISTS checkpoints (
    id TEXT PRIMARY KEY, sandbox_id TEXT NOT NULL, name TEXT, mode TEXT NOT NULL, parent_id TEXT,
    manifest_hash TEXT NOT NULL, size_bytes INTEGER NOT NULL, stored_bytes INTEGER NOT NULL,
    file_count INTEGER NOT NULL, paused_ms INTEGER NOT NULL, created_at TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS checkpoints_sandbox ON checkpoints(sandbox_id, created_at);
  CREATE TABLE IF NOT EXISTS blob_refs (owner TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (owner, hash)) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS blob_refs_hash ON blob_refs(hash);
  CREATE TABLE IF NOT EXISTS checkpoint_heads (sandbox_id TEXT PRIMARY KEY, checkpoint_id TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS sandbox_bases (sandbox_id TEXT PRIMARY KEY, checkpoint_id TEXT NOT NULL, manifest_hash TEXT NOT NULL);
  ALTER TABLE checkpoints ADD COLUMN status TEXT NOT NULL DEFAULT 'ready';
  CREATE TABLE IF NOT EXISTS e2b_sandboxes (sandbox_id TEXT PRIMARY KEY, on_timeout TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS sandbox_egress (sandbox_id TEXT PRIMARY KEY, policy TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS previews (
    id TEXT PRIMARY KEY, sandbox_id TEXT NOT NULL, port INTEGER NOT NULL, public INTEGER NOT NULL,
    token_hash TEXT UNIQUE, expires_at TEXT, created_at TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS previews_sandbox ON previews(sandbox_id, port);
  CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, sealed BLOB NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS sandbox_secrets (sandbox_id TEXT NOT NULL, name TEXT NOT NULL, hosts TEXT NOT NULL, PRIMARY KEY (sandbox_id, name));
`;

/** Table → its columns (name and type, in order) and index names: what a schema is made of. */
function schemaOf(db: Db): Record<string, unknown> {
  const tables = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
    .pluck()
    .all() as string[];
  const out: Record<string, unknown> = {};
  for (const t of tables) {
    out[t] = {
      columns: db.prepare(`SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info('${t}')`).all(),
      indexes: db.prepare(`SELECT name FROM pragma_index_list('${t}') ORDER BY name`).pluck().all(),
    };
  }
  return out;
}

describe("schema migrations", () => {
  const dirs: string[] = [];
  const dbPath = () => {
    const dir = mkdtempSync(join(tmpdir(), "burrow-db-"));
    dirs.push(dir);
    return join(dir, "burrow.db");
  };

  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("the stores create no tables: a new db gets every table from the migrations", () => {
    const db = openDb(dbPath());
    const before = schemaOf(db);
    // Constructing every store must not change the schema.
    new SqliteCheckpointStore(db);
    new SqliteE2bStore(db);
    new SqliteEgressStore(db);
    new SqlitePreviewStore(db);
    new SqliteSecretStore(db);
    expect(schemaOf(db)).toEqual(before);
    expect(Object.keys(before)).toEqual(
      expect.arrayContaining(["checkpoints", "blob_refs", "e2b_sandboxes", "sandbox_egress", "previews", "secrets"]),
    );
    expect(db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    db.close();
  });

  it("upgrades a db made by release 0.1.0 (tables made by store constructors, user_version 3), keeping its rows", async () => {
    const path = dbPath();
    const old = new Database(path);
    applyMigrations(old, 3);
    old.exec(OLD_CONSTRUCTOR_SCHEMA);
    old
      .prepare(
        `INSERT INTO checkpoints (id, sandbox_id, name, mode, parent_id, manifest_hash, size_bytes, stored_bytes,
           file_count, paused_ms, created_at, status) VALUES ('ck_1', 'sb_1', 'before', 'fs', NULL, 'h', 1, 1, 1, 5, '2026-01-01T00:00:00.000Z', 'ready')`,
      )
      .run();
    old.prepare("INSERT INTO checkpoint_heads (sandbox_id, checkpoint_id) VALUES ('sb_1', 'ck_1')").run();
    old.prepare("INSERT INTO e2b_sandboxes (sandbox_id, on_timeout) VALUES ('sb_1', 'pause')").run();
    old
      .prepare(
        `INSERT INTO sandbox_egress (sandbox_id, policy) VALUES ('sb_1', '{"default":"deny","allow":[],"deny":[]}')`,
      )
      .run();
    old
      .prepare(
        "INSERT INTO sandbox_secrets (sandbox_id, name, hosts) VALUES ('sb_1', 'TOKEN', '[\"api.example.test\"]')",
      )
      .run();
    expect(old.pragma("user_version", { simple: true })).toBe(3);
    old.close();

    const db = openDb(path);
    expect(db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    const checkpoints = new SqliteCheckpointStore(db);
    expect(await checkpoints.get("ck_1")).toMatchObject({ name: "before", status: "ready", sandboxId: "sb_1" });
    expect(await checkpoints.head("sb_1")).toBe("ck_1");
    expect(await new SqliteE2bStore(db).onTimeout("sb_1")).toBe("pause");
    expect(await new SqliteEgressStore(db).get("sb_1")).toMatchObject({ default: "deny" });
    expect(await new SqliteSecretStore(db).bindings("sb_1")).toEqual([{ name: "TOKEN", hosts: ["api.example.test"] }]);
    // The upgraded schema is the one a new db gets.
    const fresh = openDb(dbPath());
    expect(schemaOf(db)).toEqual(schemaOf(fresh));
    fresh.close();
    db.close();
  });

  it("upgrades a user_version 3 db on which the stores never ran", () => {
    const path = dbPath();
    const old = new Database(path);
    applyMigrations(old, 3);
    old.close();
    const db = openDb(path);
    const fresh = openDb(dbPath());
    expect(schemaOf(db)).toEqual(schemaOf(fresh));
    fresh.close();
    db.close();
  });
});
