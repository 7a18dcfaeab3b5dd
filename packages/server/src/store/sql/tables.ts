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

export interface Tables {
  sandboxes: SandboxesTable;
}
