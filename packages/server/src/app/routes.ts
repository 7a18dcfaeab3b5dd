import { BurrowError, ErrorCode, isSandboxId, type Logger } from "@burrow/core";
import type { Runtime } from "@burrow/runtime";
import { type SandboxService, toInfo } from "../services/sandbox-service.js";
import { proxyToAgent, unreachableError } from "./envd-proxy.js";
import { readJson, sendEmpty, sendJson } from "./http.js";
import { openApiDocument } from "./openapi.js";
import type { Router } from "./router.js";
import { parseCreateSandbox, parseMetadataFilter } from "./schemas.js";

export interface RouteDeps {
  sandboxes: SandboxService;
  runtime: Runtime;
  logger: Logger;
  version: string;
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
  const { sandboxes } = deps;

  router.add("GET", "/v1/health", ({ res }) => sendJson(res, 200, { status: "ok", version: deps.version }), {
    public: true,
  });
  router.add("GET", "/v1/openapi.json", ({ res }) => sendJson(res, 200, openApiDocument(deps.version)), {
    public: true,
  });

  router.add("POST", "/v1/sandboxes", async ({ req, res }) => {
    const request = parseCreateSandbox(await readJson(req));
    const record = await sandboxes.create(request);
    sendJson(res, 201, toInfo(record));
  });

  router.add("GET", "/v1/sandboxes", ({ res, url }) => {
    const list = sandboxes.list(parseMetadataFilter(url)).map(toInfo);
    sendJson(res, 200, { sandboxes: list });
  });

  router.add("GET", "/v1/sandboxes/:id", ({ res, params }) => {
    sendJson(res, 200, toInfo(sandboxes.get(sandboxIdParam(params))));
  });

  router.add("DELETE", "/v1/sandboxes/:id", async ({ res, params }) => {
    const id = sandboxIdParam(params);
    if (!(await sandboxes.delete(id))) {
      throw new BurrowError(ErrorCode.SandboxNotFound, `sandbox ${id} not found`, { details: { sandboxId: id } });
    }
    sendEmpty(res, 204);
  });

  router.add("*", "/v1/sandboxes/:id/envd/*", async ({ req, res, params, url }) => {
    const record = sandboxes.getRunning(sandboxIdParam(params));
    const path = `${params.rest || "/"}${url.search}`;
    await proxyToAgent(
      req,
      res,
      { sandboxId: record.id, ...sandboxes.agentEndpoint(record), agentToken: record.agentToken },
      path,
      deps.logger,
      async (err) => {
        const alive = await sandboxes.checkAlive(record).catch(() => true);
        if (!alive) return sandboxes.getRunningError(record.id);
        return unreachableError(record.id, err);
      },
    );
  });
}
