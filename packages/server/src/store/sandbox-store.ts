import {
  BurrowError,
  ErrorCode,
  type LifecyclePolicy,
  type SandboxInfo,
  type SandboxResources,
  type SandboxState,
} from "@burrow/core";
import type { Db } from "./db.js";

export interface SandboxRecord extends SandboxInfo {
  env: Record<string, string>;
  agentToken: string;
  /** Picks the sandbox's network; unique among sandboxes not deleted. */
  networkIndex: number;
  /** When the current state began (ISO-8601). */
  stateSince: string;
  /** Template whose warm pool holds this sandbox; null once a user owns it. */
  pool: string | null;
}

export interface Row {
  id: string;
  template: string;
  state: string;
  metadata: string;
  env: string;
  resources: string;
  lifecycle: string;
  agent_token: string;
  net_index: number;
  error: string | null;
  created_at: string;
  updated_at: string;
  last_activity_at: string | null;
  state_since: string | null;
  pool: string | null;
  template_version: string | null;
}

export function fromRow(row: Row): SandboxRecord {
  const record: SandboxRecord = {
    id: row.id,
    template: row.template,
    state: row.state as SandboxState,
    metadata: JSON.parse(row.metadata) as Record<string, string>,
    env: JSON.parse(row.env) as Record<string, string>,
    // Rows from before disk limits have no diskMb: those sandboxes have no disk of their own.
    resources: { diskMb: 0, ...(JSON.parse(row.resources) as Partial<SandboxResources>) } as SandboxResources,
    lifecycle: JSON.parse(row.lifecycle) as LifecyclePolicy,
    agentToken: row.agent_token,
    networkIndex: row.net_index,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastActivityAt: row.last_activity_at ?? row.updated_at,
    stateSince: row.state_since ?? row.updated_at,
    pool: row.pool,
  };
  if (row.error !== null) record.error = row.error;
  if (row.template_version !== null) record.templateVersion = row.template_version;
  return record;
}

export const NETWORK_REUSE_DELAY_MS = 180_000;

/** Sandbox rows. Every state change is written here before the runtime acts on it. */
export interface SandboxStore {
  insert(record: SandboxRecord): Promise<void>;
  /** Inserts a new sandbox with the lowest network index no live sandbox uses, atomically. */
  insertWithNetworkIndex(record: Omit<SandboxRecord, "networkIndex">, maxIndex: number): Promise<SandboxRecord>;
  get(id: string): Promise<SandboxRecord | undefined>;
  /** The live sandbox holding network index `index` (its /30), if any. */
  byNetworkIndex(index: number): Promise<SandboxRecord | undefined>;
  /** All sandboxes not yet deleted, oldest first (warm-pool ones included). */
  listLive(): Promise<SandboxRecord[]>;
  /** Running or standby sandboxes, plus any with a deleteAfterMs (not warm-pool ones). */
  listAwakeOrExpiring(): Promise<SandboxRecord[]>;
  setState(id: string, state: SandboxState, error: string | null, now: string): Promise<void>;
  setLastActivity(id: string, at: string): Promise<void>;
  update(
    id: string,
    fields: {
      lifecycle?: LifecyclePolicy;
      metadata?: Record<string, string>;
      env?: Record<string, string>;
      resources?: SandboxResources;
    },
    now: string,
  ): Promise<void>;
  /** Hands a warm-pool sandbox to a user: its metadata, env and times become the user's. */
  claim(
    id: string,
    metadata: Record<string, string>,
    env: Record<string, string>,
    lifecycle: LifecyclePolicy,
    now: string,
  ): Promise<void>;
  /** Makes sandboxes held under `pool` (a fork in progress) ordinary sandboxes, in one transaction. */
  handOut(ids: string[], pool: string): Promise<void>;
}

/** Sandbox rows in SQLite (better-sqlite3 is synchronous; each method resolves at once). */
export class SqliteSandboxStore implements SandboxStore {
  constructor(private readonly db: Db) {}

  async insert(record: SandboxRecord): Promise<void> {
    this.insertRow(record);
  }

  private insertRow(record: SandboxRecord): void {
    this.db
      .prepare(
        `INSERT INTO sandboxes (id, template, state, metadata, env, resources, lifecycle, agent_token, net_index,
           error, created_at, updated_at, last_activity_at, state_since, pool, template_version)
         VALUES (@id, @template, @state, @metadata, @env, @resources, @lifecycle, @agent_token, @net_index,
           @error, @created_at, @updated_at, @last_activity_at, @state_since, @pool, @template_version)`,
      )
      .run({
        id: record.id,
        template: record.template,
        state: record.state,
        metadata: JSON.stringify(record.metadata),
        env: JSON.stringify(record.env),
        resources: JSON.stringify(record.resources),
        lifecycle: JSON.stringify(record.lifecycle),
        agent_token: record.agentToken,
        net_index: record.networkIndex,
        error: record.error ?? null,
        created_at: record.createdAt,
        updated_at: record.updatedAt,
        last_activity_at: record.lastActivityAt,
        state_since: record.stateSince,
        pool: record.pool,
        template_version: record.templateVersion ?? null,
      });
  }

  /** Inserts a new sandbox with the lowest network index no live sandbox uses, atomically. */
  async insertWithNetworkIndex(record: Omit<SandboxRecord, "networkIndex">, maxIndex: number): Promise<SandboxRecord> {
    return this.db.transaction(() => {
      // Addresses of sandboxes deleted in the last minutes are not reused yet: the host may still
      // hold closing TCP connections to them, which would be mistaken for the new sandbox's.
      const quarantineSince = new Date(Date.now() - NETWORK_REUSE_DELAY_MS).toISOString();
      const used = this.db
        .prepare(
          `SELECT DISTINCT net_index FROM sandboxes WHERE net_index IS NOT NULL
             AND (state != 'deleted' OR updated_at > ?) ORDER BY net_index`,
        )
        .pluck()
        .all(quarantineSince) as number[];
      let index = 0;
      for (const n of used) {
        if (n !== index) break;
        index++;
      }
      if (index > maxIndex) {
        throw new BurrowError(ErrorCode.ServiceUnavailable, `no free sandbox network (all ${maxIndex + 1} in use)`);
      }
      const full: SandboxRecord = { ...record, networkIndex: index };
      this.insertRow(full);
      return full;
    })();
  }

  async get(id: string): Promise<SandboxRecord | undefined> {
    const row = this.db.prepare("SELECT * FROM sandboxes WHERE id = ?").get(id) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  /** The live sandbox holding network index `index` (its /30), if any. */
  async byNetworkIndex(index: number): Promise<SandboxRecord | undefined> {
    const row = this.db.prepare("SELECT * FROM sandboxes WHERE net_index = ? AND state != 'deleted'").get(index) as
      | Row
      | undefined;
    return row ? fromRow(row) : undefined;
  }

  /** All sandboxes not yet deleted, oldest first (warm-pool ones included). */
  async listLive(): Promise<SandboxRecord[]> {
    const rows = this.db
      .prepare("SELECT * FROM sandboxes WHERE state != 'deleted' ORDER BY created_at, id")
      .all() as Row[];
    return rows.map(fromRow);
  }

  /**
   * Sandboxes the sleep policy and the liveness check act on: running or in standby, plus any
   * with a deleteAfterMs. Hibernated and failed sandboxes (the bulk, on a busy host) are skipped,
   * so the once-a-second policy pass stays cheap however many sandboxes sleep on disk.
   */
  async listAwakeOrExpiring(): Promise<SandboxRecord[]> {
    const rows = this.db
      .prepare(
        `SELECT * FROM sandboxes WHERE pool IS NULL AND (state IN ('running', 'standby')
           OR (state NOT IN ('deleted', 'deleting') AND json_extract(lifecycle, '$.deleteAfterMs') > 0))`,
      )
      .all() as Row[];
    return rows.map(fromRow);
  }

  async setState(id: string, state: SandboxState, error: string | null, now: string): Promise<void> {
    this.db
      .prepare("UPDATE sandboxes SET state = ?, error = ?, updated_at = ?, state_since = ? WHERE id = ?")
      .run(state, error, now, now, id);
  }

  async setLastActivity(id: string, at: string): Promise<void> {
    this.db.prepare("UPDATE sandboxes SET last_activity_at = ? WHERE id = ?").run(at, id);
  }

  async update(
    id: string,
    fields: {
      lifecycle?: LifecyclePolicy;
      metadata?: Record<string, string>;
      env?: Record<string, string>;
      resources?: SandboxResources;
    },
    now: string,
  ): Promise<void> {
    if (fields.resources) {
      this.db
        .prepare("UPDATE sandboxes SET resources = ?, updated_at = ? WHERE id = ?")
        .run(JSON.stringify(fields.resources), now, id);
    }
    if (fields.env) {
      this.db
        .prepare("UPDATE sandboxes SET env = ?, updated_at = ? WHERE id = ?")
        .run(JSON.stringify(fields.env), now, id);
    }
    if (fields.lifecycle) {
      this.db
        .prepare("UPDATE sandboxes SET lifecycle = ?, updated_at = ? WHERE id = ?")
        .run(JSON.stringify(fields.lifecycle), now, id);
    }
    if (fields.metadata) {
      this.db
        .prepare("UPDATE sandboxes SET metadata = ?, updated_at = ? WHERE id = ?")
        .run(JSON.stringify(fields.metadata), now, id);
    }
  }

  /** Hands a warm-pool sandbox to a user: its metadata, env and times become the user's. */
  async claim(
    id: string,
    metadata: Record<string, string>,
    env: Record<string, string>,
    lifecycle: LifecyclePolicy,
    now: string,
  ): Promise<void> {
    this.db
      .prepare(
        `UPDATE sandboxes SET pool = NULL, metadata = ?, env = ?, lifecycle = ?, created_at = ?, updated_at = ?,
           last_activity_at = ? WHERE id = ?`,
      )
      .run(JSON.stringify(metadata), JSON.stringify(env), JSON.stringify(lifecycle), now, now, now, id);
  }

  /** Makes sandboxes held under `pool` (a fork in progress) ordinary sandboxes, in one transaction. */
  async handOut(ids: string[], pool: string): Promise<void> {
    const update = this.db.prepare("UPDATE sandboxes SET pool = NULL WHERE id = ? AND pool = ?");
    this.db.transaction(() => {
      for (const id of ids) update.run(id, pool);
    })();
  }
}
