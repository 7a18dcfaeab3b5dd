import { ApiKeyStore } from "./api-key-store.js";
import { CheckpointStore } from "./checkpoint-store.js";
import type { Db } from "./db.js";
import { E2bStore } from "./e2b-store.js";
import { EgressStore } from "./egress-store.js";
import { EventStore } from "./event-store.js";
import { PreviewStore } from "./preview-store.js";
import { SandboxStore } from "./sandbox-store.js";
import { SecretStore } from "./secret-store.js";
import { TemplateStore } from "./template-store.js";
import { VolumeStore } from "./volume-store.js";

/** The public methods of a store class, as an interface another backend can implement. */
export type StoreApi<T> = { [K in keyof T]: T[K] };

/**
 * The same methods returning promises: the shape the stores take when cluster mode puts them on
 * Postgres. Services then `await` each call; SQLite's implementation resolves at once.
 */
export type AsyncStoreApi<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : T[K];
};

/**
 * Every store the server has, in one place. Today each is a class over one SQLite db (tables in
 * db.ts's migrations) with synchronous methods, and services hold the classes. The way to
 * Postgres: services depend on `StoreApi<…>` of these (not on the classes), then the types here
 * switch to `AsyncStoreApi<…>` one store at a time, with the services awaiting each call; the
 * SQLite classes stay as the single-host implementation.
 */
export interface Stores {
  keys: StoreApi<ApiKeyStore>;
  sandboxes: StoreApi<SandboxStore>;
  events: StoreApi<EventStore>;
  e2b: StoreApi<E2bStore>;
  previews: StoreApi<PreviewStore>;
  checkpoints: StoreApi<CheckpointStore>;
  egress: StoreApi<EgressStore>;
  secrets: StoreApi<SecretStore>;
  templates: StoreApi<TemplateStore>;
  volumes: StoreApi<VolumeStore>;
}

/** The SQLite stores over a db opened (and migrated) by openDb. */
export function openStores(db: Db): {
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
} {
  return {
    keys: new ApiKeyStore(db),
    sandboxes: new SandboxStore(db),
    events: new EventStore(db),
    e2b: new E2bStore(db),
    previews: new PreviewStore(db),
    checkpoints: new CheckpointStore(db),
    egress: new EgressStore(db),
    secrets: new SecretStore(db),
    templates: new TemplateStore(db),
    volumes: new VolumeStore(db),
  };
}
