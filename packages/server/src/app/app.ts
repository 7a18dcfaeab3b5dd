import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { BurrowError, ErrorCode, type Logger } from "@burrow/core";
import { registerMetricsRoutes } from "../metrics/metrics-routes.js";
import type { ServerMetrics } from "../metrics/server-metrics.js";
import type { AgentClient } from "../services/agent-client.js";
import type { ApiKeyStore } from "../store/api-key-store.js";
import type { E2bStore } from "../store/e2b-store.js";
import { authenticate } from "./auth.js";
import { isE2bApiPath } from "./e2b/api-paths.js";
import { E2bService, registerE2bRoutes, SandboxPlane } from "./e2b/index.js";
import { sendE2bError } from "./e2b/routes.js";
import { registerE2bSnapshotRoutes } from "./e2b/snapshot-routes.js";
import { E2bSnapshots } from "./e2b/snapshot-service.js";
import { registerE2bTemplateRoutes } from "./e2b/template-routes.js";
import { E2bTemplates } from "./e2b/template-service.js";
import { EventStreams } from "./event-stream.js";
import { sendError } from "./http.js";
import { Router } from "./router.js";
import { type RouteDeps, registerRoutes } from "./routes.js";
import { serveStatic } from "./static-files.js";
import { registerE2bVolumeRoutes } from "./volume-routes.js";

export interface AppDeps extends RouteDeps {
  keys: ApiKeyStore;
  e2bStore: E2bStore;
  agents: AgentClient;
  /** The built dashboard, served at `/` when given and present. */
  dashboardDir?: string;
  /** Prometheus metrics: served at /metrics, fed with every request's status and error code. */
  metrics?: ServerMetrics;
  /** A bearer token that reads /metrics besides the API keys. */
  metricsToken?: string;
  /** The domain of sandbox hosts over HTTPS (the TLS listener's), once it listens. */
  httpsDomain?: () => string | undefined;
}

/** The request handler, plus the handler of HTTP upgrades (WebSockets to sandbox ports). */
export type App = ((req: IncomingMessage, res: ServerResponse) => void) & {
  upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** The routes served (the OpenAPI coverage test reads them). */
  routes: () => Array<{ method: string; path: string }>;
  /** Ends the open event streams (before the listener closes). */
  close: () => void;
};

/**
 * The request handler of the REST API: route, authenticate, run, translate errors. Requests
 * for a sandbox's ports (E2B's sandbox plane) are told apart first and forwarded.
 */
export function createApp(deps: AppDeps): App {
  const router = new Router();
  registerRoutes(router, deps);
  const streams = new EventStreams(deps.events, deps.sandboxes);
  streams.register(router);
  const e2bDeps = { ...deps, store: deps.e2bStore, ...(deps.network ? { egress: deps.network.egress } : {}) };
  const e2b = new E2bService(e2bDeps);
  registerE2bRoutes(router, e2b, deps.keys, deps.logger, deps.httpsDomain);
  const t = deps.templates;
  if (t?.builds && t.contexts) {
    const e2bTemplates = new E2bTemplates({ catalog: t.catalog, builds: t.builds, contexts: t.contexts });
    registerE2bTemplateRoutes(router, e2bTemplates, t.catalog, deps.keys, deps.logger, t.snapshots);
  }
  if (t?.snapshots && deps.checkpoints) {
    const { checkpoints } = deps.checkpoints;
    const snapshots = { e2b, sandboxes: deps.sandboxes, checkpoints, snapshots: t.snapshots, catalog: t.catalog };
    registerE2bSnapshotRoutes(router, new E2bSnapshots({ ...snapshots, store: deps.e2bStore }), deps.keys, deps.logger);
  }
  const metrics = deps.metrics;
  if (metrics) {
    registerMetricsRoutes(router, {
      ...deps,
      metrics,
      ...(deps.metricsToken === undefined ? {} : { metricsToken: deps.metricsToken }),
    });
  }
  if (deps.volumes) registerE2bVolumeRoutes(router, deps.volumes, deps.keys, deps.logger);
  const plane = new SandboxPlane({ ...deps, ...(deps.previews ? { previews: deps.previews } : {}) });
  const log: Logger = deps.logger;

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now();
    const url = new URL(req.url ?? "/", "http://burrow.local");
    const method = req.method ?? "GET";
    const sandboxRoute = plane.route(req, url);
    const run = async () => {
      if (sandboxRoute) return plane.serve(req, res, url, sandboxRoute);
      const match = router.match(method, url.pathname);
      if (match === null) {
        if (serveStatic(deps.dashboardDir, req, res, url.pathname)) return;
        const e2bHint = isE2bApiPath(url.pathname) ? ": Burrow does not serve this E2B API endpoint (docs/e2b.md)" : "";
        throw new BurrowError(ErrorCode.NotFound, `no route for ${method} ${url.pathname}${e2bHint}`);
      }
      if ("allowed" in match) {
        throw new BurrowError(ErrorCode.BadRequest, `${method} is not allowed on ${url.pathname}`, {
          details: { allowed: match.allowed },
        });
      }
      if (!match.public) await authenticate(req, deps.keys);
      await match.handler({ req, res, params: match.params, url });
    };
    run()
      .catch((err: unknown) => {
        // Only unmatched requests reach here in E2B's namespace: its routes answer for themselves.
        if (!sandboxRoute && isE2bApiPath(url.pathname)) {
          metrics?.error(err instanceof BurrowError ? err.code : ErrorCode.Internal);
          return sendE2bError(res, err, log);
        }
        const error = sendError(res, err);
        metrics?.error(error.code);
        if (error.code === ErrorCode.Internal)
          log.error({ err: String((err as Error)?.stack ?? err) }, "unhandled error");
      })
      .finally(() => {
        metrics?.request(sandboxRoute ? "proxy" : "api", res.statusCode);
        log.debug(
          { method, path: url.pathname, status: res.statusCode, ms: Math.round(performance.now() - started) },
          "request",
        );
      });
  };
  return Object.assign(handle, {
    upgrade: plane.upgrade.bind(plane),
    routes: () => router.list(),
    close: () => streams.close(),
  });
}
