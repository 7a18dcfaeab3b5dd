import { BurrowError, ErrorCode, isSandboxId, type Logger } from "@burrow/core";
import type { Runtime } from "@burrow/runtime";
import type { EgressService } from "../egress/egress-service.js";
import type { PreviewService } from "../previews/preview-service.js";
import type { SecretBinder } from "../secrets/secret-binder.js";
import type { SecretService } from "../secrets/secret-service.js";
import type { ActivityTracker } from "../services/activity.js";
import type { AgentConnections } from "../services/agent-connections.js";
import type { AgentGuard } from "../services/agent-guard.js";
import type { LifecycleService } from "../services/lifecycle.js";
import { type SandboxService, toInfo } from "../services/sandbox-service.js";
import type { EventStore } from "../store/event-store.js";
import type { VolumeService } from "../volumes/volume-service.js";
import type { WebhookService } from "../webhooks/webhook-service.js";
import { type CheckpointRouteDeps, registerCheckpointRoutes } from "./checkpoint-routes.js";
import { clientAgentPath, lockoutError, proxyToAgent, unreachableError } from "./envd-proxy.js";
import { readJson, sendEmpty, sendJson } from "./http.js";
import { registerNetworkRoutes } from "./network-routes.js";
import { openApiDocument } from "./openapi.js";
import { pageOf, parsePageQuery } from "./paging.js";
import { registerPreviewRoutes } from "./preview-routes.js";
import type { Router } from "./router.js";
import { parseCreateSandbox, parseKeepAlive, parseMetadataFilter, parseUpdateSandbox } from "./schemas.js";
import { registerSecretRoutes } from "./secret-routes.js";
import { registerTemplateRoutes, type TemplateRouteDeps } from "./template-routes.js";
import { registerVolumeRoutes } from "./volume-routes.js";
import { registerWebhookRoutes } from "./webhook-routes.js";

export interface RouteDeps {
  sandboxes: SandboxService;
  lifecycle: LifecycleService;
  activity: ActivityTracker;
  events: EventStore;
  runtime: Runtime;
  logger: Logger;
  connections: AgentConnections;
  version: string;
  poolStatus: () => Record<string, { ready: number; target: number }>;
  /** Checkpoint routes are served when given. */
  checkpoints?: CheckpointRouteDeps;
  /** Preview routes are served, and sandbox ports guarded, when given. */
  previews?: PreviewService;
  /** Takes back agents whose token was changed from inside (401 to the server's token) when given. */
  agentGuard?: AgentGuard;
  /** Egress policies and brokered secrets (network and secret routes) when given. */
  network?: { egress: EgressService; secrets: SecretService; binder: SecretBinder };
  /** Template routes are served when given. */
  templates?: TemplateRouteDeps;
  /** Volume routes are served when given. */
  volumes?: VolumeService;
  webhooks?: WebhookService;
}

function sandboxIdParam(params: Record<string, string>): string {
  const id = params.id ?? "";
  if (!isSandboxId(id)) {
    throw new BurrowError(
      ErrorCode.SandboxNotFound,
      `sandbox ${id} not found (ids look like sb_ followed by 20 characters)`,
      {
        details: { sandboxId: id },
      },
    );
  }
  return id;
}

export function registerRoutes(router: Router, deps: RouteDeps): void {
  const { sandboxes, lifecycle, activity } = deps;

  router.add(
    "GET",
    "/v1/health",
    ({ res }) => sendJson(res, 200, { status: "ok", version: deps.version, warmPool: deps.poolStatus() }),
    { public: true },
  );
  router.add("GET", "/v1/openapi.json", ({ res }) => sendJson(res, 200, openApiDocument(deps.version)), {
    public: true,
  });

  router.add("POST", "/v1/sandboxes", async ({ req, res }) => {
    const request = parseCreateSandbox(await readJson(req));
    sendJson(res, 201, toInfo(await sandboxes.create(request)));
  });

  router.add("GET", "/v1/sandboxes", async ({ res, url }) => {
    const { page, nextToken } = pageOf(await sandboxes.list(parseMetadataFilter(url)), parsePageQuery(url));
    sendJson(res, 200, { sandboxes: page.map(toInfo), ...(nextToken === undefined ? {} : { nextToken }) });
  });

  router.add("GET", "/v1/sandboxes/:id", async ({ res, params }) => {
    sendJson(res, 200, toInfo(await sandboxes.get(sandboxIdParam(params))));
  });

  router.add("DELETE", "/v1/sandboxes/:id", async ({ res, params }) => {
    const id = sandboxIdParam(params);
    if (!(await sandboxes.delete(id))) {
      throw new BurrowError(ErrorCode.SandboxNotFound, `sandbox ${id} not found`, { details: { sandboxId: id } });
    }
    sendEmpty(res, 204);
  });

  router.add("PATCH", "/v1/sandboxes/:id", async ({ req, res, params }) => {
    const id = sandboxIdParam(params);
    const request = parseUpdateSandbox(await readJson(req));
    if (request.resources) await sandboxes.resize(id, request.resources);
    sendJson(res, 200, toInfo(await sandboxes.update(id, request)));
  });

  router.add("GET", "/v1/sandboxes/:id/events", async ({ res, params, url }) => {
    const id = sandboxIdParam(params);
    await sandboxes.get(id);
    const after = Number(url.searchParams.get("after") ?? "0");
    sendJson(res, 200, { events: await deps.events.list(id, Number.isFinite(after) ? after : 0) });
  });

  router.add("POST", "/v1/sandboxes/:id/keepalive", async ({ req, res, params }) => {
    const id = sandboxIdParam(params);
    await sandboxes.get(id);
    const { durationMs } = parseKeepAlive(await readJson(req));
    await lifecycle.keepAlive(id, durationMs);
    sendJson(res, 200, toInfo(await lifecycle.ensureAwake(id)));
  });

  const lifecycleAction = (path: string, act: (id: string) => Promise<unknown>) =>
    router.add("POST", `/v1/sandboxes/:id/${path}`, async ({ res, params }) => {
      const id = sandboxIdParam(params);
      await sandboxes.get(id);
      await act(id);
      sendJson(res, 200, toInfo(await sandboxes.get(id)));
    });
  lifecycleAction("pause", (id) => lifecycle.pause(id));
  lifecycleAction("hibernate", (id) => lifecycle.hibernate(id));
  lifecycleAction("resume", (id) => lifecycle.ensureAwake(id));
  lifecycleAction("restart", (id) => lifecycle.restart(id));
  if (deps.checkpoints) registerCheckpointRoutes(router, deps.checkpoints);
  if (deps.previews) registerPreviewRoutes(router, deps.previews);
  if (deps.templates) registerTemplateRoutes(router, deps.templates);
  if (deps.volumes) registerVolumeRoutes(router, deps.volumes);
  if (deps.webhooks) registerWebhookRoutes(router, deps.webhooks);
  if (deps.network) {
    registerNetworkRoutes(router, { ...deps.network, sandboxes });
    registerSecretRoutes(router, deps.network.secrets);
  }

  router.add("*", "/v1/sandboxes/:id/envd/*", async ({ req, res, params }) => {
    const id = sandboxIdParam(params);
    await sandboxes.get(id);
    const path = clientAgentPath(req.method ?? "GET", req.url ?? "");
    const guard = deps.agentGuard;
    // Counted as activity from before the wake until the response (or stream) ends.
    await activity.track(id, async () => {
      const record = await lifecycle.ensureAwake(id);
      const target = {
        sandboxId: record.id,
        ...sandboxes.agentEndpoint(record),
        connections: deps.connections,
        agentToken: record.agentToken,
      };
      await proxyToAgent(
        req,
        res,
        target,
        path,
        async (err) => {
          deps.logger.warn({ sandboxId: id, err: err.message }, "agent unreachable");
          const alive = await sandboxes.checkAlive(record).catch(() => true);
          if (!alive) {
            return new BurrowError(ErrorCode.SandboxNotRunning, `sandbox ${id} is error: ${record.error ?? ""}`);
          }
          return unreachableError(record.id, err);
        },
        guard && (async () => lockoutError(id, await guard.check(record))),
      );
    });
  });
}
