import type { Generated } from "kysely";

/**
 * Row types of the tables the Kysely stores use (the schema itself is in migrations.ts). Columns
 * are TEXT (JSON and ISO-8601 times are text) or INTEGER/BIGINT (numbers) on both databases.
 */
export interface SandboxesTable {
  id: string;
  template: string;
  state: string;
  metadata: string;
  env: string;
  resources: string;
  lifecycle: string;
  agent_token: string;
  net_index: number | null;
  error: string | null;
  created_at: string;
  updated_at: string;
  last_activity_at: string | null;
  state_since: string | null;
  pool: string | null;
  template_version: string | null;
}

export interface CheckpointsTable {
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

export interface EventsTable {
  /** Assigned by the database (AUTOINCREMENT / identity); left out on insert. */
  id: Generated<number>;
  sandbox_id: string;
  at: string;
  type: string;
  from_state: string | null;
  to_state: string | null;
  reason: string;
  duration_ms: number | null;
}

export interface Tables {
  volumes: { id: string; name: string; size_bytes: number; token: string; created_at: string };
  sandbox_volumes: { sandbox_id: string; volume_id: string; path: string; read_only: number };
  secrets: { name: string; sealed: Buffer; created_at: string; updated_at: string };
  sandbox_secrets: { sandbox_id: string; name: string; hosts: string; allow_http: Generated<number> };
  e2b_sandboxes: {
    sandbox_id: string;
    on_timeout: string;
    auto_pause_memory: Generated<number>;
    paused_memory: number | null;
    traffic_token: string | null;
    mask_request_host: string | null;
  };
  previews: {
    id: string;
    sandbox_id: string;
    port: number;
    public: number;
    token_hash: string | null;
    expires_at: string | null;
    created_at: string;
  };
  api_keys: { id: string; name: string; key_hash: string; created_at: string };
  sandbox_egress: { sandbox_id: string; policy: string };
  events: EventsTable;
  sandboxes: SandboxesTable;
  checkpoints: CheckpointsTable;
  blob_refs: { owner: string; hash: string };
  checkpoint_heads: { sandbox_id: string; checkpoint_id: string };
  sandbox_bases: { sandbox_id: string; checkpoint_id: string; manifest_hash: string };
}
