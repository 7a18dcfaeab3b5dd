import type { CheckpointInfo, CheckpointMode, CheckpointStatus } from "@burrow/core";
import type { Db } from "./db.js";

export interface CheckpointRecord extends CheckpointInfo {
  manifestHash: string;
}

export interface Row {
  id: string;
  sandbox_id: string;
  name: string | null;
  mode: string;
  parent_id: string | null;
  manifest_hash: string;
  size_bytes: number;
  stored_bytes: number;
  file_count: number;
  paused_ms: number;
  created_at: string;
  status: string;
}

export function fromRow(r: Row): CheckpointRecord {
  return {
    id: r.id,
    sandboxId: r.sandbox_id,
    name: r.name,
    mode: r.mode as CheckpointMode,
    parentId: r.parent_id,
    manifestHash: r.manifest_hash,
    sizeBytes: r.size_bytes,
    storedBytes: r.stored_bytes,
    fileCount: r.file_count,
    pausedMs: r.paused_ms,
    createdAt: r.created_at,
    status: r.status as CheckpointStatus,
  };
}

export interface SandboxBase {
  checkpointId: string;
  manifestHash: string;
}

/**
 * Checkpoint rows (tables in db.ts's migrations). A checkpoint row and its blob references are
 * written in one transaction after every blob is stored, so a crash leaves a checkpoint complete
 * or absent.
 *
 * `blob_refs.owner` is a checkpoint id, or a sandbox id for a fork's base layer (kept while the
 * fork lives even when the checkpoint it came from is deleted).
 */
export interface CheckpointStore {
  /** Writes the row, its blob references and the sandbox's new head, atomically. */
  insert(record: CheckpointRecord, hashes: Iterable<string>): Promise<void>;
  /**
   * Marks a storing checkpoint stored: its manifest, stored bytes and the blobs it added, in one
   * transaction. False (and nothing written) when the checkpoint was deleted meanwhile.
   */
  complete(id: string, manifestHash: string, storedBytes: number, hashes: Iterable<string>): Promise<boolean>;
  /** Checkpoints whose data was still being stored. */
  listStoring(): Promise<CheckpointRecord[]>;
  addRefs(owner: string, hashes: Iterable<string>): Promise<void>;
  get(id: string): Promise<CheckpointRecord | undefined>;
  list(sandboxId: string): Promise<CheckpointRecord[]>;
  head(sandboxId: string): Promise<string | null>;
  setHead(sandboxId: string, checkpointId: string | null): Promise<void>;
  base(sandboxId: string): Promise<SandboxBase | undefined>;
  /** Records a fork's base layer and the blobs it needs, owned by the fork (atomically). */
  setBase(sandboxId: string, base: SandboxBase, hashes: Iterable<string>): Promise<void>;
  /**
   * Deletes a checkpoint and its references, moving its children and heads to its parent, in one
   * transaction. Returns the hashes it referenced.
   */
  delete(id: string): Promise<string[]>;
  /** Checkpoint ids of sandboxes that were deleted. */
  orphanedCheckpoints(): Promise<string[]>;
  /** Drops base-layer references of forks that were deleted (atomically); returns the hashes they held. */
  releaseDeletedForks(): Promise<string[]>;
  isReferenced(hash: string): Promise<boolean>;
  /** Manifest hashes of live forks' base layers. */
  liveBaseManifests(): Promise<Set<string>>;
}

/** Checkpoint rows in SQLite; multi-statement writes are one synchronous transaction each. */
export class SqliteCheckpointStore implements CheckpointStore {
  constructor(private readonly db: Db) {}

  /**
   * Writes the row, its blob references and the sandbox's new head, atomically. A "storing"
   * row references the blobs it reuses; `complete` adds the rest once they are stored.
   */
  async insert(record: CheckpointRecord, hashes: Iterable<string>): Promise<void> {
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO checkpoints (id, sandbox_id, name, mode, parent_id, manifest_hash, size_bytes, stored_bytes,
             file_count, paused_ms, created_at, status)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          record.id,
          record.sandboxId,
          record.name,
          record.mode,
          record.parentId,
          record.manifestHash,
          record.sizeBytes,
          record.storedBytes,
          record.fileCount,
          record.pausedMs,
          record.createdAt,
          record.status,
        );
      this.addRefsSync(record.id, hashes);
      this.setHeadSync(record.sandboxId, record.id);
    })();
  }

  /** Marks a storing checkpoint stored: its manifest, stored bytes and the blobs it added. */
  async complete(id: string, manifestHash: string, storedBytes: number, hashes: Iterable<string>): Promise<boolean> {
    return this.db.transaction(() => {
      const updated = this.db
        .prepare("UPDATE checkpoints SET manifest_hash = ?, stored_bytes = ?, status = 'ready' WHERE id = ?")
        .run(manifestHash, storedBytes, id).changes;
      if (updated === 0) return false;
      this.addRefsSync(id, hashes);
      return true;
    })();
  }

  /** Checkpoints whose data was still being stored (at start: those a stop interrupted). */
  async listStoring(): Promise<CheckpointRecord[]> {
    const rows = this.db
      .prepare("SELECT * FROM checkpoints WHERE status = 'storing' ORDER BY created_at")
      .all() as Row[];
    return rows.map(fromRow);
  }

  async addRefs(owner: string, hashes: Iterable<string>): Promise<void> {
    this.addRefsSync(owner, hashes);
  }

  private addRefsSync(owner: string, hashes: Iterable<string>): void {
    const stmt = this.db.prepare("INSERT OR IGNORE INTO blob_refs (owner, hash) VALUES (?, ?)");
    this.db.transaction(() => {
      for (const h of hashes) stmt.run(owner, h);
    })();
  }

  async get(id: string): Promise<CheckpointRecord | undefined> {
    return this.getSync(id);
  }

  private getSync(id: string): CheckpointRecord | undefined {
    const row = this.db.prepare("SELECT * FROM checkpoints WHERE id = ?").get(id) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  async list(sandboxId: string): Promise<CheckpointRecord[]> {
    const rows = this.db
      .prepare("SELECT * FROM checkpoints WHERE sandbox_id = ? ORDER BY created_at, rowid")
      .all(sandboxId) as Row[];
    return rows.map(fromRow);
  }

  async head(sandboxId: string): Promise<string | null> {
    const id = this.db
      .prepare("SELECT checkpoint_id FROM checkpoint_heads WHERE sandbox_id = ?")
      .pluck()
      .get(sandboxId);
    return typeof id === "string" ? id : null;
  }

  async setHead(sandboxId: string, checkpointId: string | null): Promise<void> {
    this.setHeadSync(sandboxId, checkpointId);
  }

  private setHeadSync(sandboxId: string, checkpointId: string | null): void {
    if (checkpointId === null) this.db.prepare("DELETE FROM checkpoint_heads WHERE sandbox_id = ?").run(sandboxId);
    else {
      this.db
        .prepare(
          "INSERT INTO checkpoint_heads (sandbox_id, checkpoint_id) VALUES (?, ?) ON CONFLICT DO UPDATE SET checkpoint_id = excluded.checkpoint_id",
        )
        .run(sandboxId, checkpointId);
    }
  }

  async base(sandboxId: string): Promise<SandboxBase | undefined> {
    const row = this.db
      .prepare("SELECT checkpoint_id, manifest_hash FROM sandbox_bases WHERE sandbox_id = ?")
      .get(sandboxId) as { checkpoint_id: string; manifest_hash: string } | undefined;
    return row ? { checkpointId: row.checkpoint_id, manifestHash: row.manifest_hash } : undefined;
  }

  /** Records a fork's base layer and the blobs it needs, owned by the fork. */
  async setBase(sandboxId: string, base: SandboxBase, hashes: Iterable<string>): Promise<void> {
    this.db.transaction(() => {
      this.db
        .prepare("INSERT OR REPLACE INTO sandbox_bases (sandbox_id, checkpoint_id, manifest_hash) VALUES (?, ?, ?)")
        .run(sandboxId, base.checkpointId, base.manifestHash);
      this.addRefsSync(sandboxId, hashes);
    })();
  }

  /**
   * Deletes a checkpoint and its references; its children and any head pointing at it move to
   * its parent, so the tree stays connected. Returns the hashes it referenced.
   */
  async delete(id: string): Promise<string[]> {
    return this.db.transaction(() => {
      const record = this.getSync(id);
      if (!record) return [];
      const hashes = this.db.prepare("SELECT hash FROM blob_refs WHERE owner = ?").pluck().all(id) as string[];
      this.db.prepare("DELETE FROM blob_refs WHERE owner = ?").run(id);
      this.db.prepare("UPDATE checkpoints SET parent_id = ? WHERE parent_id = ?").run(record.parentId, id);
      if (record.parentId === null) this.db.prepare("DELETE FROM checkpoint_heads WHERE checkpoint_id = ?").run(id);
      else
        this.db
          .prepare("UPDATE checkpoint_heads SET checkpoint_id = ? WHERE checkpoint_id = ?")
          .run(record.parentId, id);
      this.db.prepare("DELETE FROM checkpoints WHERE id = ?").run(id);
      return hashes;
    })();
  }

  /** Checkpoint ids of sandboxes that were deleted (their checkpoints go with them). */
  async orphanedCheckpoints(): Promise<string[]> {
    return this.db
      .prepare("SELECT c.id FROM checkpoints c JOIN sandboxes s ON s.id = c.sandbox_id WHERE s.state = 'deleted'")
      .pluck()
      .all() as string[];
  }

  /** Drops base-layer references of forks that were deleted; returns the hashes they held. */
  async releaseDeletedForks(): Promise<string[]> {
    return this.db.transaction(() => {
      const owners = this.db
        .prepare(
          "SELECT b.sandbox_id FROM sandbox_bases b JOIN sandboxes s ON s.id = b.sandbox_id WHERE s.state = 'deleted'",
        )
        .pluck()
        .all() as string[];
      const hashes: string[] = [];
      for (const owner of owners) {
        hashes.push(...(this.db.prepare("SELECT hash FROM blob_refs WHERE owner = ?").pluck().all(owner) as string[]));
        this.db.prepare("DELETE FROM blob_refs WHERE owner = ?").run(owner);
        this.db.prepare("DELETE FROM sandbox_bases WHERE sandbox_id = ?").run(owner);
      }
      return hashes;
    })();
  }

  async isReferenced(hash: string): Promise<boolean> {
    return this.db.prepare("SELECT 1 FROM blob_refs WHERE hash = ? LIMIT 1").get(hash) !== undefined;
  }

  /** Manifest hashes of live forks' base layers (their snapshot directories are in use). */
  async liveBaseManifests(): Promise<Set<string>> {
    const rows = this.db
      .prepare(
        "SELECT DISTINCT b.manifest_hash FROM sandbox_bases b JOIN sandboxes s ON s.id = b.sandbox_id WHERE s.state != 'deleted'",
      )
      .pluck()
      .all() as string[];
    return new Set(rows);
  }
}
