import { type ApiKeyStore, SqliteApiKeyStore } from "./api-key-store.js";
import { type CheckpointStore, SqliteCheckpointStore } from "./checkpoint-store.js";
import type { Db } from "./db.js";
import { type E2bStore, SqliteE2bStore } from "./e2b-store.js";
import { type EgressStore, SqliteEgressStore } from "./egress-store.js";
import { type EventStore, SqliteEventStore } from "./event-store.js";
import { type PreviewStore, SqlitePreviewStore } from "./preview-store.js";
import { type SandboxStore, SqliteSandboxStore } from "./sandbox-store.js";
import { type SecretStore, SqliteSecretStore } from "./secret-store.js";
import { SqliteTemplateStore, type TemplateStore } from "./template-store.js";
import { SqliteVolumeStore, type VolumeStore } from "./volume-store.js";
import { SqliteWebhookStore, type WebhookStore } from "./webhook-store.js";

/**
 * Every store the server has, in one place. Each is an interface whose data methods return
 * promises (services `await` every call), so another backend (Postgres) can implement them; the
 * SQLite classes over one better-sqlite3 db (tables in db.ts's migrations) are the single-host
 * implementation. A write that must be atomic (a read then a write) is one method, which the
 * SQLite classes run as one synchronous transaction.
 */
export interface Stores {
  keys: ApiKeyStore;
  sandboxes: SandboxStore;
  events: EventStore;
  e2b: E2bStore;
  previews: PreviewStore;
  checkpoints: CheckpointStore;
  egress: EgressStore;
  secrets: SecretStore;
  templates: TemplateStore;
  volumes: VolumeStore;
  webhooks: WebhookStore;
}

/** The SQLite stores over a db opened (and migrated) by openDb. */
export function openStores(db: Db): Stores {
  return {
    keys: new SqliteApiKeyStore(db),
    sandboxes: new SqliteSandboxStore(db),
    events: new SqliteEventStore(db),
    e2b: new SqliteE2bStore(db),
    previews: new SqlitePreviewStore(db),
    checkpoints: new SqliteCheckpointStore(db),
    egress: new SqliteEgressStore(db),
    secrets: new SqliteSecretStore(db),
    templates: new SqliteTemplateStore(db),
    volumes: new SqliteVolumeStore(db),
    webhooks: new SqliteWebhookStore(db),
  };
}
