import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { BurrowError, ErrorCode, type Logger } from "@burrow/core";
import { type CommandRunner, GvisorRuntime, type Runtime, ShimRunner, SpawnRunner } from "@burrow/runtime";
import { createApp } from "./app/app.js";
import { setupE2b } from "./app/e2b/index.js";
import { DiffService } from "./checkpoints/diff-service.js";
import { CheckpointService } from "./checkpoints/service.js";
import type { ServerConfig } from "./config.js";
import { createPrivateFile, secureDataDir } from "./data-dir.js";
import { EgressCa } from "./egress/egress-ca.js";
import { EgressService } from "./egress/egress-service.js";
import { startEgressProxies } from "./egress/proxies.js";
import { PreviewService } from "./previews/preview-service.js";
import { SecretBinder } from "./secrets/secret-binder.js";
import { loadSecretsKey, SecretCipher } from "./secrets/secret-cipher.js";
import { SecretService } from "./secrets/secret-service.js";
import { ActivityTracker } from "./services/activity.js";
import { AgentGuard } from "./services/agent-guard.js";
import { KeyedMutex } from "./services/keyed-mutex.js";
import { LifecycleService } from "./services/lifecycle.js";
import { reconcileAtStart } from "./services/reconcile.js";
import { SandboxService } from "./services/sandbox-service.js";
import { Templates } from "./services/templates.js";
import { Transitions } from "./services/transitions.js";
import { WarmPool } from "./services/warm-pool.js";
import { ApiKeyStore } from "./store/api-key-store.js";
import { LocalBlobStore } from "./store/blob-store.js";
import { CheckpointStore } from "./store/checkpoint-store.js";
import { type Db, openDb } from "./store/db.js";
import { EgressStore } from "./store/egress-store.js";
import { EventStore } from "./store/event-store.js";
import { PreviewStore } from "./store/preview-store.js";
import { SandboxStore } from "./store/sandbox-store.js";
import { SecretStore } from "./store/secret-store.js";

export const VERSION = "0.1.0";

export interface RunningServer {
  url: string;
  adminKeyPath: string;
  /** Stops serving; sandboxes keep running and are adopted by the next start (warm-pool ones are deleted). */
  close(): Promise<void>;
  /** The REST routes served (method and `/v1/…/:param` path). */
  routes(): Array<{ method: string; path: string }>;
}

/** Creates the admin key on first start, writing it to `<data>/admin-key` (0600). */
function bootstrapAdminKey(keys: ApiKeyStore, dataDir: string, logger: Logger): string {
  const path = join(dataDir, "admin-key");
  if (keys.count() === 0 || !existsSync(path)) {
    const { key } = keys.create("admin", new Date().toISOString());
    writeFileSync(path, `${key}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
    logger.info({ path }, "created admin API key");
  }
  return path;
}

function preflight(config: ServerConfig): void {
  if (!existsSync(config.agentBinaryPath)) {
    throw new BurrowError(
      ErrorCode.ServiceUnavailable,
      `the sandbox agent binary is missing at ${config.agentBinaryPath}; run 'npm start' (or 'npm run build') to build it`,
    );
  }
}

/**
 * The /16 that sandbox addresses come from is fixed when a data dir is first used: existing
 * sandboxes keep their addresses across restarts even if BURROW_NETWORK_PREFIX changes.
 */
function networkPrefixFor(config: ServerConfig, logger: Logger): string {
  const path = join(config.dataDir, "network-prefix");
  if (existsSync(path)) {
    const stored = readFileSync(path, "utf8").trim();
    if (stored !== config.networkPrefix) {
      logger.warn(
        { stored, configured: config.networkPrefix },
        "BURROW_NETWORK_PREFIX differs from the prefix this data dir was created with; keeping the stored one",
      );
    }
    return stored;
  }
  writeFileSync(path, `${config.networkPrefix}\n`, { mode: 0o600 });
  return config.networkPrefix;
}

export interface StartOptions {
  /** Use this runtime instead of gVisor (component tests). */
  runtime?: Runtime;
}

/** Opens storage, reconciles with the host, and serves the API. */
export async function startServer(
  config: ServerConfig,
  logger: Logger,
  options: StartOptions = {},
): Promise<RunningServer> {
  secureDataDir(config.dataDir, logger);
  const sandboxesDir = join(config.dataDir, "sandboxes");
  mkdirSync(sandboxesDir, { recursive: true, mode: 0o700 });
  let runtime = options.runtime;
  const networkPrefix = networkPrefixFor(config, logger);
  if (!runtime) {
    preflight(config);
    const runner: CommandRunner = existsSync(config.shimPath) ? new ShimRunner(config.shimPath) : new SpawnRunner();
    runtime = new GvisorRuntime({
      sandboxesDir,
      runscStateDir: join(config.dataDir, "runsc"),
      agentBinaryPath: config.agentBinaryPath,
      runner,
      logger,
      runscPath: config.runscPath,
      networkPrefix,
      checkpointCompression: config.checkpointCompression,
    });
  }
  createPrivateFile(join(config.dataDir, "burrow.db"));
  const db: Db = openDb(join(config.dataDir, "burrow.db"));
  const keys = new ApiKeyStore(db);
  const adminKeyPath = bootstrapAdminKey(keys, config.dataDir, logger);
  const e2b = setupE2b(db, keys, config.dataDir, logger);
  const store = new SandboxStore(db);
  const events = new EventStore(db);
  const templates = new Templates(config.templatesDir);
  const transitions = new Transitions(store, events, logger);
  const activity = new ActivityTracker(store);
  const locks = new KeyedMutex();
  const agentsEnabled = options.runtime === undefined;
  const imageDirOf = (id: string) => join(sandboxesDir, id, "memory");
  const lifecycle = new LifecycleService({
    store,
    runtime,
    templates,
    transitions,
    activity,
    locks,
    logger,
    imageDirOf,
    agentsEnabled,
  });
  const egress = new EgressService({
    store: new EgressStore(db),
    sandboxes: store,
    runtime,
    transitions,
    logger,
    networkPrefix,
  });
  const secrets = new SecretService(
    new SecretStore(db),
    new SecretCipher(loadSecretsKey(config.secretsKeyHex, join(config.dataDir, "secrets.key"))),
  );
  // The egress CA is made with openssl; only sandboxes on a real runtime reach the proxies.
  const egressCa = agentsEnabled ? await EgressCa.load(join(config.dataDir, "egress-ca")) : undefined;
  const sandboxes = new SandboxService({
    store,
    runtime,
    templates,
    transitions,
    activity,
    locks,
    lifecycle,
    logger,
    agentsEnabled,
    ...(egressCa ? { trustedCaPem: egressCa.certPem } : {}),
  });
  const checkpointStore = new CheckpointStore(db);
  const blobs = new LocalBlobStore(join(config.dataDir, "blobs"));
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
    logger,
    agentsEnabled,
  });
  // Egress proxies first: the host's NAT rules redirect the sandboxes' DNS, HTTP and TLS to them.
  const egressProxies = egressCa ? await startEgressProxies(egress, secrets, egressCa, config, logger) : undefined;
  await runtime.prepareHost(egressProxies?.ports);
  await egress.applyAll();
  await checkpoints.thawInterrupted();
  await reconcileAtStart({ store, events, runtime, transitions, sandboxes, imageDirOf, logger });
  await checkpoints.reconcile();
  const diffs = new DiffService({
    store,
    checkpoints: checkpointStore,
    service: checkpoints,
    blobs,
    runtime,
    templates,
  });
  const pool = new WarmPool(config.warmPool, { sandboxes, store, transitions, locks, logger, agentsEnabled });
  sandboxes.usePool(pool);
  pool.start();

  const monitor = setInterval(() => {
    sandboxes.checkAll().catch((err: unknown) => logger.warn({ err: String(err) }, "sandbox check failed"));
  }, config.monitorIntervalMs);
  monitor.unref();
  let ticking = false;
  const ticker = setInterval(() => {
    if (ticking) return;
    ticking = true;
    lifecycle
      .tick((id) => sandboxes.delete(id))
      .catch((err: unknown) => logger.warn({ err: String(err) }, "lifecycle tick failed"))
      .finally(() => {
        ticking = false;
      });
  }, config.lifecycleTickMs);
  ticker.unref();

  // The default preview domain names the port the server really listens on (known after listen).
  let previewDomain = config.previewDomain ?? `localhost:${config.port}`;
  const previews = new PreviewService({
    store: new PreviewStore(db),
    sandboxes,
    e2b: e2b.store,
    keys,
    domain: () => previewDomain,
  });
  const agentGuard = agentsEnabled
    ? new AgentGuard({ runtime, transitions, logger, restart: (id) => lifecycle.restart(id) })
    : undefined;
  const app = createApp({
    ...(agentGuard ? { agentGuard } : {}),
    sandboxes,
    lifecycle,
    activity,
    events,
    runtime,
    keys,
    logger,
    version: VERSION,
    poolStatus: () => pool.status(),
    checkpoints: { checkpoints, diffs, egress, secrets },
    previews,
    network: { egress, secrets, binder: new SecretBinder(secrets, store, lifecycle, agentsEnabled) },
    e2bStore: e2b.store,
  });
  const server: Server = createServer(app);
  server.on("upgrade", app.upgrade);
  server.keepAliveTimeout = 65_000;
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  if (config.previewDomain === undefined) previewDomain = `localhost:${address.port}`;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;

  return {
    url,
    adminKeyPath,
    routes: () => app.routes(),
    async close() {
      clearInterval(monitor);
      clearInterval(ticker);
      await pool.drain();
      server.closeIdleConnections();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        setTimeout(() => {
          server.closeAllConnections();
        }, 2_000).unref();
      });
      // Checkpoints still being stored finish first (a hard stop would redo them at the next start).
      await checkpoints.idle();
      egressProxies?.close();
      await runtime.close();
      db.close();
    },
  };
}
