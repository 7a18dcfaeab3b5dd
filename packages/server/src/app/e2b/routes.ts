import type { ServerResponse } from "node:http";
import { isIP } from "node:net";
import { BurrowError, ErrorCode, type Logger } from "@burrow/core";
import type { ApiKeyStore } from "../../store/api-key-store.js";
import { authenticate } from "../auth.js";
import { readJson, sendEmpty, sendJson } from "../http.js";
import type { Handler, RouteContext, Router } from "../router.js";
import {
  parseConnect,
  parseE2bMetadataFilter,
  parseListQuery,
  parseNetworkUpdate,
  parseNewSandbox,
  parsePause,
  parseRefresh,
  parseTimeout,
} from "./schemas.js";
import type { E2bService } from "./service.js";

/** E2B's error body: the HTTP status again as `code`, and a message. */
export function sendE2bError(res: ServerResponse, err: unknown, logger: Logger): void {
  const error =
    err instanceof BurrowError ? err : new BurrowError(ErrorCode.Internal, "internal error", { cause: err });
  if (error.code === ErrorCode.Internal) logger.error({ err: String((err as Error)?.stack ?? err) }, "e2b api error");
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, error.status, { code: error.status, message: error.message });
}

/**
 * The domain E2B clients build sandbox hosts from (`https://<port>-<id>.<domain>`): the name they
 * called over TLS (this server's HTTPS listener, or a TLS proxy in front that says so with
 * `X-Forwarded-Proto: https`); else the HTTPS listener's domain, when there is one; else the host
 * they called.
 */
export function e2bDomain(ctx: RouteContext, httpsDomain: () => string | undefined): string | null {
  const host = ctx.req.headers.host;
  const overTls =
    ("encrypted" in ctx.req.socket && ctx.req.socket.encrypted === true) ||
    ctx.req.headers["x-forwarded-proto"] === "https";
  // An address is no domain: `<port>-<id>.127.0.0.1` names nothing.
  if (overTls && host !== undefined && !isIpLiteral(host)) return host;
  return httpsDomain() ?? host ?? null;
}

function isIpLiteral(host: string): boolean {
  const name = host.startsWith("[") ? host.slice(1, host.indexOf("]")) : host.replace(/:\d+$/, "");
  return isIP(name) !== 0;
}

export function intParam(url: URL, name: string): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new BurrowError(ErrorCode.BadRequest, `${name} must be a whole number`);
  return n;
}

/**
 * Adds E2B routes: public to the router, they authenticate themselves (unless `open`) so that
 * every answer, 401s included, has E2B's error shape.
 */
export function e2bRouteAdder(router: Router, keys: ApiKeyStore, logger: Logger) {
  return (method: string, path: string, fn: Handler, open = false) =>
    router.add(
      method,
      path,
      async (ctx) => {
        try {
          if (!open) await authenticate(ctx.req, keys);
          await fn(ctx);
        } catch (err) {
          sendE2bError(ctx.res, err, logger);
        }
      },
      { public: true },
    );
}

/**
 * Registers E2B's control-plane REST API (`/sandboxes`, `/v2/sandboxes`, …) at the root. The
 * routes are public to the router and authenticate themselves, so that every answer, 401s
 * included, has E2B's error shape.
 */
export function registerE2bRoutes(
  router: Router,
  service: E2bService,
  keys: ApiKeyStore,
  logger: Logger,
  httpsDomain: () => string | undefined = () => undefined,
): void {
  const add = e2bRouteAdder(router, keys, logger);
  const domainOf = (ctx: RouteContext) => e2bDomain(ctx, httpsDomain);
  const unsupported = (method: string, path: string, what: string, why: string) =>
    add(method, path, () => {
      throw new BurrowError(ErrorCode.BadRequest, `${what} is not supported by Burrow: ${why}`);
    });

  router.add("GET", "/health", ({ res }) => sendJson(res, 200, { status: "ok" }), { public: true });

  const create: Handler = async (ctx) => {
    const request = parseNewSandbox(await readJson(ctx.req));
    sendJson(ctx.res, 201, await service.create(request, domainOf(ctx)));
  };
  add("POST", "/sandboxes", create);
  add("POST", "/v2/sandboxes", create);

  add("GET", "/sandboxes", async ({ res, url }) => {
    const { page } = await service.list({
      metadata: parseE2bMetadataFilter(url),
      states: new Set(["running"]),
      template: undefined,
      startedAfter: undefined,
      order: "asc",
      limit: Number.MAX_SAFE_INTEGER,
      after: undefined,
    });
    sendJson(res, 200, page);
  });

  add("GET", "/v2/sandboxes", async ({ res, url }) => {
    const query = parseListQuery(url);
    const { page, nextToken, running } = await service.list(query);
    if (nextToken) res.setHeader("X-Next-Token", nextToken);
    if (query.states.has("running")) res.setHeader("X-Total-Running", String(running));
    sendJson(res, 200, page);
  });

  add("GET", "/sandboxes/metrics", async ({ res, url }) => {
    const ids = (url.searchParams.get("sandbox_ids") ?? "").split(",").filter(Boolean);
    if (ids.length === 0 || ids.length > 100) {
      throw new BurrowError(ErrorCode.BadRequest, "sandbox_ids must list 1 to 100 sandbox ids, comma-separated");
    }
    const sandboxes: Record<string, unknown> = {};
    for (const id of new Set(ids)) {
      const metric = (await service.metrics(id).catch(() => []))[0];
      if (metric) sandboxes[id] = metric;
    }
    sendJson(res, 200, { sandboxes });
  });

  add("GET", "/sandboxes/:id", async (ctx) => {
    sendJson(ctx.res, 200, await service.detail(ctx.params.id ?? "", domainOf(ctx)));
  });

  add("DELETE", "/sandboxes/:id", async ({ res, params }) => {
    const id = params.id ?? "";
    if (!(await service.kill(id))) {
      throw new BurrowError(ErrorCode.SandboxNotFound, `sandbox ${id} not found`, { details: { sandboxId: id } });
    }
    sendEmpty(res, 204);
  });

  const connect: Handler = async (ctx) => {
    const body = parseConnect(await readJson(ctx.req));
    const { resumed, sandbox } = await service.connect(
      ctx.params.id ?? "",
      { timeoutS: body.timeout, memory: body.memory },
      domainOf(ctx),
    );
    sendJson(ctx.res, resumed ? 201 : 200, sandbox);
  };
  add("POST", "/sandboxes/:id/connect", connect);
  add("POST", "/v2/sandboxes/:id/connect", connect);

  add("POST", "/sandboxes/:id/resume", async (ctx) => {
    const body = parseConnect(await readJson(ctx.req));
    sendJson(ctx.res, 201, await service.resume(ctx.params.id ?? "", body.timeout, domainOf(ctx)));
  });

  add("POST", "/sandboxes/:id/pause", async ({ req, res, params }) => {
    const body = parsePause(await readJson(req));
    await service.pause(params.id ?? "", body.memory !== false);
    sendEmpty(res, 204);
  });

  add("POST", "/sandboxes/:id/timeout", async ({ req, res, params }) => {
    const { timeout } = parseTimeout(await readJson(req));
    await service.setTimeout(params.id ?? "", timeout);
    sendEmpty(res, 204);
  });

  add("POST", "/sandboxes/:id/refreshes", async ({ req, res, params }) => {
    const { duration } = parseRefresh(await readJson(req));
    await service.refresh(params.id ?? "", duration);
    sendEmpty(res, 204);
  });

  add("GET", "/sandboxes/:id/metrics", async ({ res, params, url }) => {
    sendJson(res, 200, await service.metrics(params.id ?? "", intParam(url, "start"), intParam(url, "end")));
  });

  add("PUT", "/sandboxes/:id/network", async ({ req, res, params }) => {
    const body = parseNetworkUpdate(await readJson(req));
    await service.updateNetwork(params.id ?? "", body.allow_internet_access, body);
    sendEmpty(res, 204);
  });
  const noLogs = "command output is streamed to the client and kept per process (commands.connect), not as logs";
  unsupported("GET", "/sandboxes/:id/logs", "sandbox logs", noLogs);
  unsupported("GET", "/v2/sandboxes/:id/logs", "sandbox logs", noLogs);
}
