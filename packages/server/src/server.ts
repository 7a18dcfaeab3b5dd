import { join } from "node:path";
import { BurrowError, ErrorCode, type Logger } from "@burrow/core";
import { EgressCa, startEgressProxies } from "@burrow/egress";
import type { EgressProxyPorts, Runtime } from "@burrow/runtime";
import { createApp } from "./app/app.js";
import { bootstrapE2bKey } from "./app/e2b/index.js";
import { DEFAULT_DASHBOARD_DIR, type ServerConfig } from "./config.js";
import { composeServices, type Services } from "./root/compose.js";
import {
  bootstrapAdminKey,
  claimNetworkPrefix,
  createPrivateFile,
  gvisorRuntime,
  loopVolumeDisks,
  prepareDataDir,
} from "./root/data-dir.js";
import { readHostCas } from "./root/host-cas.js";
import { type Listener, listen, listenTls } from "./root/listen.js";
import { startTimers } from "./root/timers.js";
import { tlsSetup } from "./root/tls.js";
import { type HostCapacity, hostCapacity } from "./services/admission.js";
import { type AgentClient, HttpAgentClient } from "./services/agent-client.js";
import { AgentConnections } from "./services/agent-connections.js";
import { AgentGuard } from "./services/agent-guard.js";
import { FakeAgentClient } from "./services/fake-agent-client.js";
import { reconcileAtStart } from "./services/reconcile.js";
import { openDb } from "./store/db.js";
import { deleteOrphanRows } from "./store/orphan-rows.js";

export const VERSION = "0.1.0";

export interface RunningServer {
  url: string;
  adminKeyPath: string;
  /** The HTTPS listener, when there is one: its URL, the domain of sandbox hosts, and the preview CA's certificate file. */
  https?: { url: string; domain: string; caPath?: string };
  /** Stops serving; sandboxes keep running and are adopted by the next start (warm-pool ones are deleted). */
  close(): Promise<void>;
  /** The REST routes served (method and `/v1/…/:param` path). */
  routes(): Array<{ method: string; path: string }>;
  /** One pass of the sleep policy now, as the lifecycle timer runs it (tests pair it with `now`). */
  tickLifecycle(): Promise<void>;
}

export interface StartOptions {
  /** Use this runtime instead of gVisor (component tests); its sandboxes get a FakeAgentClient. */
  runtime?: Runtime;
  /** Talk to agents through this client (default: HTTP, or the fake with a given runtime). */
  agents?: AgentClient;
  /** What one sandbox may ask for at most (default: this host's cores and RAM). */
  host?: HostCapacity;
  /** The clock of activity and the sleep policy (default: Date.now). */
  now?: () => number;
}

/**
 * Brings the database in line with the host: firewall, interrupted checkpoints and operations,
 * template directories and layers; then removes what sandboxes it has no live record of left on the host.
 */
async function reconcile(
  s: Services,
  host: { runtime: Runtime; agents: AgentClient; logger: Logger },
  proxyPorts: EgressProxyPorts | undefined,
): Promise<void> {
  await host.runtime.prepareHost(proxyPorts);
  await s.egress.applyAll();
  await s.checkpoints.thawInterrupted();
  // Template directories (the base image) become versions; layers a crash left half-made go.
  await s.templates.registerDirectories();
  const failedBuilds = await s.builds.recover();
  if (failedBuilds > 0)
    host.logger.warn({ builds: failedBuilds }, "template builds interrupted by the stop marked failed");
  await s.layers.recover();
  // Volumes in use are mounted before any sandbox is restarted or woken.
  await s.volumes.recover();
  // Build contexts live for their build; none is running now.
  const contexts = await s.contexts.clear();
  if (contexts > 0) host.logger.info({ files: contexts }, "build contexts left by the last run removed");
  await reconcileAtStart({ ...s, ...host });
  const orphans = deleteOrphanRows(s.db);
  if (orphans > 0) host.logger.info({ rows: orphans }, "dropped settings rows of deleted sandboxes");
  await s.checkpoints.reconcile();
  const reaped = await host.runtime.reapLeftovers(new Set((await s.store.listLive()).map((r) => r.id)));
  if (reaped.length > 0) {
    host.logger.warn({ reaped }, `removed ${reaped.length} leftovers of sandboxes that no longer exist`);
  }
}

/** The composition root: opens storage, builds the services, reconciles with the host, serves the API. */
export async function startServer(
  config: ServerConfig,
  logger: Logger,
  options: StartOptions = {},
): Promise<RunningServer> {
  prepareDataDir(config, logger);
  // Certificates first: a certificate file that cannot be read stops the start before anything runs.
  const tls = config.tls ? await tlsSetup(config.tls, config.dataDir) : undefined;
  const real = options.runtime === undefined;
  const { prefix: networkPrefix, lock: prefixLock } = await claimNetworkPrefix(config, logger, real);
  const runtime = options.runtime ?? gvisorRuntime(config, logger, networkPrefix);
  const connections = new AgentConnections();
  const agents = options.agents ?? (real ? new HttpAgentClient(connections) : new FakeAgentClient(connections));
  // The egress CA is made with openssl; only sandboxes on a real runtime reach the proxies.
  const egressCa = real ? await EgressCa.load(join(config.dataDir, "egress-ca")) : undefined;
  const hostCas = config.hostCaDir ? await readHostCas(config.hostCaDir, logger) : [];
  if (hostCas.length > 0)
    logger.info({ count: hostCas.length, dir: config.hostCaDir }, "sandboxes trust the host's added CAs");
  // What new sandboxes trust besides their template's bundle: the egress CA and the host's CAs.
  const trustedCaPem = egressCa ? [egressCa.certPem, ...hostCas].map((p) => p.trim()).join("\n") : undefined;
  createPrivateFile(join(config.dataDir, "burrow.db"));
  const db = openDb(join(config.dataDir, "burrow.db"));
  const s = composeServices({
    config,
    logger,
    db,
    runtime,
    agents,
    host: options.host ?? hostCapacity(),
    networkPrefix,
    ...(trustedCaPem ? { trustedCaPem } : {}),
    ...(options.now ? { now: options.now } : {}),
    ...(real ? { volumeDisks: loopVolumeDisks(config) } : {}),
  });
  const adminKeyPath = await bootstrapAdminKey(s.keys, config.dataDir, logger);
  await bootstrapE2bKey(s.keys, config.dataDir, logger);

  // Egress proxies first: the host's NAT rules redirect the sandboxes' DNS, HTTP and TLS to them.
  const egressProxies = egressCa
    ? await startEgressProxies(
        s.egress,
        s.secrets,
        egressCa,
        { dnsUpstream: config.dnsUpstream, upstreamCaFile: config.egressUpstreamCaFile, upstreamCaPems: hostCas },
        logger,
      )
    : undefined;
  await reconcile(s, { runtime, agents, logger }, egressProxies?.ports);
  await s.pool.start();
  s.webhookDispatcher.start();
  const stopTimers = startTimers(config, logger, s);

  // Takes back agents whose token was changed from inside their sandbox (real agents only).
  const agentGuard = real
    ? new AgentGuard({ runtime, agents, transitions: s.transitions, logger, restart: (id) => s.lifecycle.restart(id) })
    : undefined;
  let https: RunningServer["https"];
  const app = createApp({
    ...(agentGuard ? { agentGuard } : {}),
    sandboxes: s.sandboxes,
    lifecycle: s.lifecycle,
    activity: s.activity,
    events: s.events,
    keys: s.keys,
    e2bStore: s.e2bStore,
    previews: s.previews,
    runtime,
    agents,
    connections,
    logger,
    version: VERSION,
    poolStatus: () => s.pool.status(),
    checkpoints: { checkpoints: s.checkpoints, diffs: s.diffs },
    templates: {
      catalog: s.templates,
      builds: s.builds,
      contexts: s.contexts,
      snapshots: s.snapshots,
      exporter: s.exporter,
    },
    network: { egress: s.egress, secrets: s.secrets, binder: s.binder },
    dashboardDir: config.dashboardDir ?? DEFAULT_DASHBOARD_DIR,
    metrics: s.metrics,
    ...(config.metricsToken === undefined ? {} : { metricsToken: config.metricsToken }),
    volumes: s.volumes,
    webhooks: s.webhooks,
    httpsDomain: () => https?.domain,
  });
  const listener = await listen(app, config);
  if (config.previewDomain === undefined) s.site.previewDomain = `localhost:${listener.port}`;
  let tlsListener: Listener | undefined;
  if (config.tls && tls) {
    try {
      tlsListener = await listenTls(app, config.host, config.tls.port, tls.options);
    } catch (err) {
      await listener.close();
      throw new BurrowError(
        ErrorCode.ValidationFailed,
        `cannot serve HTTPS on ${config.host}:${config.tls.port} (${(err as Error).message}): set BURROW_TLS_PORT to a free port, or to 'off'`,
      );
    }
    const port = tlsListener.port === 443 ? "" : `:${tlsListener.port}`;
    https = {
      url: tlsListener.url,
      domain: config.tls.domain ?? `localhost${port}`,
      ...(tls.caPath ? { caPath: tls.caPath } : {}),
    };
  }

  return {
    url: listener.url,
    adminKeyPath,
    ...(https ? { https } : {}),
    routes: () => app.routes(),
    tickLifecycle: () => s.lifecycle.tick((id) => s.sandboxes.delete(id)),
    async close() {
      stopTimers();
      await s.pool.drain();
      // Running builds end first: their log streams are open connections the listener waits for.
      await s.builds.close();
      app.close();
      await Promise.all([listener.close(), tlsListener?.close()]);
      // Checkpoints still being stored finish first (a hard stop would redo them at the next start).
      await s.checkpoints.idle();
      await s.webhookDispatcher.close();
      egressProxies?.close();
      await runtime.close();
      await s.volumes.close();
      connections.close();
      db.close();
      prefixLock?.release();
    },
  };
}
