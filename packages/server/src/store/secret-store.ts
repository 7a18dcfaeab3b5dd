import type { SecretBinding } from "@burrow/core";
import type { Db } from "./db.js";

/** A secret as stored: its value only sealed (see secrets/secret-cipher.ts). */
export interface SecretRecord {
  name: string;
  sealed: Buffer;
  createdAt: string;
  updatedAt: string;
}

interface Row {
  name: string;
  sealed: Buffer;
  created_at: string;
  updated_at: string;
}

const fromRow = (r: Row): SecretRecord => ({
  name: r.name,
  sealed: r.sealed,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** Secrets and the sandboxes bound to them. */
export interface SecretStore {
  /** Inserts a new secret; false when the name is taken. */
  insert(record: SecretRecord): Promise<boolean>;
  /** Replaces the value of an existing secret, or inserts it; the creation time is kept. */
  upsert(record: SecretRecord): Promise<void>;
  get(name: string): Promise<SecretRecord | undefined>;
  list(): Promise<SecretRecord[]>;
  delete(name: string): Promise<boolean>;
  bindings(sandboxId: string): Promise<SecretBinding[]>;
  /** Replaces every binding of the sandbox in one transaction. */
  setBindings(sandboxId: string, bindings: SecretBinding[]): Promise<void>;
  /** Ids of the sandboxes bound to the secret. */
  boundSandboxes(name: string): Promise<string[]>;
}

/** Secrets in SQLite. */
export class SqliteSecretStore implements SecretStore {
  constructor(private readonly db: Db) {}

  /** Inserts a new secret; false when the name is taken. */
  async insert(record: SecretRecord): Promise<boolean> {
    const result = this.db
      .prepare(
        `INSERT INTO secrets (name, sealed, created_at, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT(name) DO NOTHING`,
      )
      .run(record.name, record.sealed, record.createdAt, record.updatedAt);
    return result.changes === 1;
  }

  /** Replaces the value of an existing secret, or inserts it; the creation time is kept. */
  async upsert(record: SecretRecord): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO secrets (name, sealed, created_at, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT(name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at`,
      )
      .run(record.name, record.sealed, record.createdAt, record.updatedAt);
  }

  async get(name: string): Promise<SecretRecord | undefined> {
    const row = this.db.prepare("SELECT * FROM secrets WHERE name = ?").get(name) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  async list(): Promise<SecretRecord[]> {
    return (this.db.prepare("SELECT * FROM secrets ORDER BY name").all() as Row[]).map(fromRow);
  }

  async delete(name: string): Promise<boolean> {
    return this.db.prepare("DELETE FROM secrets WHERE name = ?").run(name).changes === 1;
  }

  async bindings(sandboxId: string): Promise<SecretBinding[]> {
    const rows = this.db
      .prepare("SELECT name, hosts, allow_http FROM sandbox_secrets WHERE sandbox_id = ? ORDER BY name")
      .all(sandboxId) as { name: string; hosts: string; allow_http: number }[];
    return rows.map((r) => ({
      name: r.name,
      hosts: JSON.parse(r.hosts) as string[],
      ...(r.allow_http === 1 ? { allowHttp: true } : {}),
    }));
  }

  /** Replaces every binding of the sandbox in one transaction. */
  async setBindings(sandboxId: string, bindings: SecretBinding[]): Promise<void> {
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM sandbox_secrets WHERE sandbox_id = ?").run(sandboxId);
      const insert = this.db.prepare(
        "INSERT INTO sandbox_secrets (sandbox_id, name, hosts, allow_http) VALUES (?, ?, ?, ?)",
      );
      for (const b of bindings) insert.run(sandboxId, b.name, JSON.stringify(b.hosts), b.allowHttp === true ? 1 : 0);
    })();
  }

  /** Ids of the sandboxes bound to the secret. */
  async boundSandboxes(name: string): Promise<string[]> {
    return this.db.prepare("SELECT sandbox_id FROM sandbox_secrets WHERE name = ?").pluck().all(name) as string[];
  }
}
