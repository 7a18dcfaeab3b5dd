import type { Db } from "./db.js";

/** A preview as stored: the token itself is never kept, only its sha256. */
export interface PreviewRecord {
  id: string;
  sandboxId: string;
  port: number;
  public: boolean;
  tokenHash: string | null;
  expiresAt: string | null;
  createdAt: string;
}

interface Row {
  id: string;
  sandbox_id: string;
  port: number;
  public: number;
  token_hash: string | null;
  expires_at: string | null;
  created_at: string;
}

const fromRow = (r: Row): PreviewRecord => ({
  id: r.id,
  sandboxId: r.sandbox_id,
  port: r.port,
  public: r.public === 1,
  tokenHash: r.token_hash,
  expiresAt: r.expires_at,
  createdAt: r.created_at,
});

/** Preview URLs of sandbox ports. */
export interface PreviewStore {
  insert(p: PreviewRecord): Promise<void>;
  list(sandboxId: string): Promise<PreviewRecord[]>;
  byTokenHash(hash: string): Promise<PreviewRecord | undefined>;
  /** Public previews of one port (there is usually at most one). */
  publicFor(sandboxId: string, port: number): Promise<PreviewRecord[]>;
  /** False when there was no such preview. */
  delete(sandboxId: string, id: string): Promise<boolean>;
  deleteForSandbox(sandboxId: string): Promise<void>;
}

/** Previews in SQLite. */
export class SqlitePreviewStore implements PreviewStore {
  constructor(private readonly db: Db) {}

  async insert(p: PreviewRecord): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO previews (id, sandbox_id, port, public, token_hash, expires_at, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(p.id, p.sandboxId, p.port, p.public ? 1 : 0, p.tokenHash, p.expiresAt, p.createdAt);
  }

  async list(sandboxId: string): Promise<PreviewRecord[]> {
    const rows = this.db
      .prepare("SELECT * FROM previews WHERE sandbox_id = ? ORDER BY created_at, rowid")
      .all(sandboxId) as Row[];
    return rows.map(fromRow);
  }

  async byTokenHash(hash: string): Promise<PreviewRecord | undefined> {
    const row = this.db.prepare("SELECT * FROM previews WHERE token_hash = ?").get(hash) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  /** Public previews of one port (there is usually at most one). */
  async publicFor(sandboxId: string, port: number): Promise<PreviewRecord[]> {
    const rows = this.db
      .prepare("SELECT * FROM previews WHERE sandbox_id = ? AND port = ? AND public = 1")
      .all(sandboxId, port) as Row[];
    return rows.map(fromRow);
  }

  async delete(sandboxId: string, id: string): Promise<boolean> {
    return this.db.prepare("DELETE FROM previews WHERE sandbox_id = ? AND id = ?").run(sandboxId, id).changes > 0;
  }

  async deleteForSandbox(sandboxId: string): Promise<void> {
    this.db.prepare("DELETE FROM previews WHERE sandbox_id = ?").run(sandboxId);
  }
}
