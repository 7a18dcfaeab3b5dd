import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { BurrowError, ErrorCode, isSandboxId, type SandboxMetrics } from "@burrow/core";
import type { Runtime } from "@burrow/runtime";
import { authenticate } from "../app/auth.js";
import { sendJson } from "../app/http.js";
import type { Router } from "../app/router.js";
import type { SandboxService } from "../services/sandbox-service.js";
import type { ApiKeyStore } from "../store/api-key-store.js";
import type { ServerMetrics } from "./server-metrics.js";

export interface MetricsRouteDeps {
  metrics: ServerMetrics;
  keys: ApiKeyStore;
  sandboxes: SandboxService;
  runtime: Runtime;
  /** BURROW_METRICS_TOKEN: a bearer token that reads /metrics only. */
  metricsToken?: string;
}

function bearer(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  return header?.toLowerCase().startsWith("bearer ") ? header.slice(7).trim() : undefined;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * `GET /metrics` (Prometheus text; read with the metrics token or any API key) and
 * `GET /v1/sandboxes/{id}/metrics` (one sandbox's CPU, memory and disk, read on the host).
 */
export function registerMetricsRoutes(router: Router, deps: MetricsRouteDeps): void {
  router.add(
    "GET",
    "/metrics",
    async ({ req, res }) => {
      const token = bearer(req);
      if (!(deps.metricsToken !== undefined && token !== undefined && sameSecret(token, deps.metricsToken))) {
        await authenticate(req, deps.keys);
      }
      const body = await deps.metrics.text();
      res.writeHead(200, { "Content-Type": deps.metrics.contentType, "Cache-Control": "no-store" });
      res.end(body);
    },
    { public: true },
  );

  router.add("GET", "/v1/sandboxes/:id/metrics", async ({ res, params }) => {
    const id = params.id ?? "";
    if (!isSandboxId(id)) {
      throw new BurrowError(ErrorCode.SandboxNotFound, `sandbox ${id} not found`, { details: { sandboxId: id } });
    }
    const record = await deps.sandboxes.get(id);
    const usage = await deps.runtime.usage(id);
    const body: SandboxMetrics = {
      sandboxId: id,
      state: record.state,
      at: new Date().toISOString(),
      resources: record.resources,
      ...usage,
    };
    sendJson(res, 200, body);
  });
}
