import { join } from "node:path";
import type { Logger } from "@burrow/core";
import { DirVolumeDisks, type Runtime, type VolumeDisks } from "@burrow/runtime";
import { DiffService } from "../checkpoints/diff-service.js";
import { CheckpointService } from "../checkpoints/service.js";
import type { ServerConfig } from "../config.js";
import { EgressService } from "../egress/egress-service.js";
import { countSandboxes, ServerMetrics } from "../metrics/server-metrics.js";
import { PreviewService } from "../previews/preview-service.js";
import { SecretBinder } from "../secrets/secret-binder.js";
import { loadSecretsKey, SecretCipher } from "../secrets/secret-cipher.js";
import { SecretService } from "../secrets/secret-service.js";
import { ActivityTracker } from "../services/activity.js";
import type { HostCapacity } from "../services/admission.js";
import type { AgentClient } from "../services/agent-client.js";
import { KeyedMutex } from "../services/keyed-mutex.js";
import { LifecycleService } from "../services/lifecycle.js";
import { SandboxService } from "../services/sandbox-service.js";
import { SandboxSettings } from "../services/sandbox-settings.js";
import { Transitions } from "../services/transitions.js";
import { WarmPool } from "../services/warm-pool.js";
import type { ApiKeyStore } from "../store/api-key-store.js";
import type { Db } from "../store/db.js";
import type { E2bStore } from "../store/e2b-store.js";
import type { EventStore } from "../store/event-store.js";
import { openBlobStore } from "../store/open-blob-store.js";
import type { SandboxStore } from "../store/sandbox-store.js";
import { openStores } from "../store/stores.js";
import { Builder } from "../templates/builder.js";
import { Catalog } from "../templates/catalog.js";
import { ContextStore } from "../templates/contexts.js";
import { TemplateExporter } from "../templates/exporter.js";
import { ImageImporter } from "../templates/image-importer.js";
import { LayerStore } from "../templates/layer-store.js";
import { SnapshotTemplates } from "../templates/snapshots.js";
import { StepRunner } from "../templates/step-runner.js";
import { VolumeService } from "../volumes/volume-service.js";
import { WebhookAddressPolicy } from "../webhooks/blocked-addresses.js";
import { WebhookDispatcher } from "../webhooks/dispatcher.js";
import { WebhookService } from "../webhooks/webhook-service.js";

/** What the services are built from: the host side, chosen by the caller (real or fake). */
export interface Foundation {
  config: ServerConfig;
  logger: Logger;
  db: Db;
  runtime: Runtime;
  agents: AgentClient;
  host: HostCapacity;
  /** The /16 sandbox addresses come from. */
  networkPrefix: string;
  /** The egress CA's certificate, installed in new sandboxes (real runtime only). */
  trustedCaPem?: string;
  /** The clock of the sleep policy and activity (tests move it); Date.now by default. */
  now?: () => number;
  /** Volume storage on the host (default: plain folders under the data dir, as the fake runtime needs). */
  volumeDisks?: VolumeDisks;
}

/** The server's stores and services, built once per start. */
export interface Services {
  db: Db;
  metrics: ServerMetrics;
  keys: ApiKeyStore;
  store: SandboxStore;
  events: EventStore;
  e2bStore: E2bStore;
  transitions: Transitions;
  activity: ActivityTracker;
  lifecycle: LifecycleService;
  egress: EgressService;
  secrets: SecretService;
  binder: SecretBinder;
  sandboxes: SandboxService;
  pool: WarmPool;
  checkpoints: CheckpointService;
  diffs: DiffService;
  previews: PreviewService;
  /** Templates, versions and tags; sandboxes are created from their versions' layers. */
  templates: Catalog;
  /** The template layer directories (GC, crash recovery). */
  layers: LayerStore;
  /** Template builds and the build contexts they copy from. */
  builds: Builder;
  contexts: ContextStore;
  snapshots: SnapshotTemplates;
  /** Template versions as OCI archives. */
  exporter: TemplateExporter;
  /** The preview domain, fixed once the listening port is known. */
  site: { previewDomain: string };
  imageDirOf: (id: string) => string;
  volumes: VolumeService;
  webhooks: WebhookService;
  /** Sends queued webhook deliveries; started and closed by the server. */
  webhookDispatcher: WebhookDispatcher;
}

/** Builds every store and service, each handed what it uses. Nothing starts here. */
export function composeServices(f: Foundation): Services {
  const { config, logger, db, runtime, agents } = f;
  const now = f.now ?? (() => Date.now());
  const date = () => new Date(now());
  const imageDirOf = (id: string) => join(config.dataDir, "sandboxes", id, "memory");

  const stores = openStores(db);
  const {
    keys,
    sandboxes: store,
    events,
    e2b: e2bStore,
    previews: previewStore,
    checkpoints: checkpointStore,
  } = stores;
  const layers = new LayerStore(join(config.dataDir, "layers"), stores.templates, logger);
  const snapshotRoot = join(config.dataDir, "template-snapshots");
  const templates = new Catalog({
    store: stores.templates,
    layers,
    templatesDir: config.templatesDir,
    logger,
    now: date,
    snapshotDirOf: (v) => (v.snapshot === undefined ? undefined : join(snapshotRoot, v.id, "image")),
  });
  const transitions = new Transitions(store, events, logger, date);
  const metrics = new ServerMetrics(async () => countSandboxes(await store.listLive()));
  transitions.observe((e) => metrics.event(e));
  const activity = new ActivityTracker(store, now);
  const locks = new KeyedMutex();
  const lifecycle = new LifecycleService({
    store,
    runtime,
    templates,
    transitions,
    activity,
    locks,
    logger,
    imageDirOf,
    agents,
    now,
  });
  const egress = new EgressService({
    store: stores.egress,
    sandboxes: store,
    runtime,
    transitions,
    logger,
    networkPrefix: f.networkPrefix,
  });
  const cipher = new SecretCipher(loadSecretsKey(config.secretsKeyHex, join(config.dataDir, "secrets.key")));
  const secrets = new SecretService(stores.secrets, cipher);
  const addresses = new WebhookAddressPolicy(f.networkPrefix);
  const webhooks = new WebhookService({ store: stores.webhooks, cipher, now, addresses });
  const webhookDispatcher = new WebhookDispatcher({
    store: stores.webhooks,
    addresses,
    secretOf: (hook) => webhooks.secretOf(hook),
    logger,
    now,
    ...config.webhooks,
  });
  webhooks.useDispatcher(webhookDispatcher);
  // Every stored sandbox event, except those of sandboxes waiting in a warm pool (nobody's yet).
  events.subscribe((e) => {
    void (async () => {
      if ((await store.get(e.sandboxId))?.pool) return;
      await webhooks.publishSandboxEvent(e);
    })().catch((err: unknown) => logger.warn({ err: String(err) }, "queueing a webhook delivery failed"));
  });
  const volumes = new VolumeService({
    store: stores.volumes,
    disks: f.volumeDisks ?? new DirVolumeDisks(join(config.dataDir, "volumes")),
    logger,
    now: date,
  });
  const settings = new SandboxSettings({
    egress,
    secrets,
    dropOnDelete: [
      (id) => previewStore.deleteForSandbox(id),
      (id) => e2bStore.forget(id),
      (id) => stores.volumes.forgetSandbox(id),
    ],
  });
  const sandboxes = new SandboxService({
    store,
    runtime,
    templates,
    transitions,
    activity,
    locks,
    lifecycle,
    logger,
    agents,
    settings,
    volumes,
    host: f.host,
    now: date,
    ...(f.trustedCaPem === undefined ? {} : { trustedCaPem: f.trustedCaPem }),
    onCreated: (source, seconds) => metrics.created(source, seconds),
  });
  const pool = new WarmPool(config.warmPool, {
    sandboxes,
    store,
    transitions,
    activity,
    locks,
    logger,
    agents,
    currentVersion: async (ref) => (await templates.resolve(ref)).versionId,
    now: date,
  });
  sandboxes.usePool(pool);
  const blobs = openBlobStore(config.blobStore);
  const checkpoints = new CheckpointService({
    store,
    checkpoints: checkpointStore,
    blobs,
    runtime,
    templates,
    transitions,
    locks,
    lifecycle,
    sandboxes,
    imageDirOf,
    snapshotsDir: join(config.dataDir, "snapshots"),
    captureTool: config.captureToolPath,
    logger,
    agents,
  });
  const snapshots = new SnapshotTemplates({
    store,
    checkpoints,
    checkpointStore,
    blobs,
    catalog: templates,
    root: snapshotRoot,
    volumeCount: async (id) => (await volumes.mountsOf(id)).length,
  });
  const diffs = new DiffService({
    store,
    checkpoints: checkpointStore,
    service: checkpoints,
    blobs,
    runtime,
    templates,
  });
  // The default preview domain names the port the server really listens on (known after listen).
  const site = { previewDomain: config.previewDomain ?? `localhost:${config.port}` };
  const previews = new PreviewService({
    store: previewStore,
    sandboxes,
    e2b: e2bStore,
    keys,
    domain: () => site.previewDomain,
  });
  const binder = new SecretBinder(secrets, store, lifecycle);
  const contexts = new ContextStore(join(config.dataDir, "template-contexts"));
  const images = new ImageImporter({ layers, contexts, catalog: templates });
  const builds = new Builder({
    store: stores.templates,
    catalog: templates,
    layers,
    contexts,
    steps: new StepRunner({ sandboxes, runtime, layers, contexts }),
    importImage: (ref, name) => images.import(ref, name),
    logger,
    now: date,
    onFinished: (result, seconds, build) => {
      metrics.built(result, seconds);
      webhooks
        .publish(`template.build.${result}`, undefined, {
          buildId: build.id,
          templateName: build.templateName,
          versionId: build.versionId,
          ...(build.error ? { error: build.error.message } : {}),
        })
        .catch((err: unknown) => logger.warn({ err: String(err) }, "queueing a webhook delivery failed"));
    },
  });
  return {
    db,
    keys,
    store,
    events,
    e2bStore,
    transitions,
    activity,
    lifecycle,
    egress,
    secrets,
    binder,
    sandboxes,
    pool,
    checkpoints,
    diffs,
    previews,
    templates,
    layers,
    builds,
    contexts,
    snapshots,
    exporter: new TemplateExporter({ catalog: templates, layers }),
    site,
    imageDirOf,
    metrics,
    volumes,
    webhooks,
    webhookDispatcher,
  };
}
