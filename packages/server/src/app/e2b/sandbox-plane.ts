import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { BurrowError, isSandboxId, type Logger } from "@burrow/core";
import { forwardedCookie, forwardedPath, type PreviewService } from "../../previews/preview-service.js";
import type { ActivityTracker } from "../../services/activity.js";
import type { AgentConnections } from "../../services/agent-connections.js";
import type { AgentGuard } from "../../services/agent-guard.js";
import type { LifecycleService } from "../../services/lifecycle.js";
import type { SandboxService } from "../../services/sandbox-service.js";
import type { ApiKeyStore } from "../../store/api-key-store.js";
import type { E2bStore } from "../../store/e2b-store.js";
import type { SandboxRecord } from "../../store/sandbox-store.js";
import { isReservedAgentPath, lockoutError } from "../envd-proxy.js";
import { forwardHttp, forwardUpgrade } from "../forward.js";
import { checkProxyPath, type ProxyPath, passthroughPath } from "../proxy-path.js";
import { type Upstream, upstreamHeaders } from "./upstream-headers.js";
import { ENVD_PORT, e2bState, PORT_PLACEHOLDER } from "./wire.js";

/**
 * E2B's sandbox plane: requests for a port inside a sandbox, named by the `E2b-Sandbox-Id` and
 * `E2b-Sandbox-Port` headers (what the e2b SDK sends to `E2B_SANDBOX_URL`), by a
 * `<port>-<sandboxId>.<domain>` Host, or — for signed `/files` URLs, which carry neither — by
 * the signature itself. Each is forwarded to `<sandbox address>:<port>`, waking the sandbox first
 * and counting as activity until the response or connection ends.
 */

export interface SandboxPlaneDeps {
  sandboxes: SandboxService;
  lifecycle: LifecycleService;
  activity: ActivityTracker;
  keys: ApiKeyStore;
  logger: Logger;
  connections: AgentConnections;
  /** Takes back agents whose token was changed from inside the sandbox, when given. */
  agentGuard?: AgentGuard;
  /** Who may reach a sandbox's own ports; without it every port is open (tests of the E2B surface). */
  previews?: PreviewService;
  /** E2B's ingress options per sandbox (traffic token, Host mask), when given. */
  e2bStore?: E2bStore;
}

/** The header E2B clients put a sandbox's trafficAccessToken in. */
const TRAFFIC_TOKEN_HEADER = "e2b-traffic-access-token";

type Route = { kind: "sandbox"; id: string; port: number } | { kind: "signed-files" };

const HOST_PATTERN = /^(\d{1,5})-(sb_[a-z2-7]{20})\./;

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** envd's `/files` signature: "v1_" + unpadded base64 of sha256("path:operation:user:token[:exp]"). */
export function filesSignature(
  path: string,
  operation: string,
  user: string,
  token: string,
  expiration: string | null,
): string {
  const raw = `${path}:${operation}:${user}:${token}${expiration ? `:${expiration}` : ""}`;
  return `v1_${createHash("sha256").update(raw).digest("base64").replace(/=+$/, "")}`;
}

function signatureMatches(url: URL, method: string, token: string): boolean {
  const q = url.searchParams;
  const signature = q.get("signature");
  if (!signature) return false;
  const operation = method === "GET" || method === "HEAD" ? "read" : "write";
  const want = filesSignature(
    q.get("path") ?? "",
    operation,
    q.get("username") ?? "",
    token,
    q.get("signature_expiration"),
  );
  return safeEqual(want, signature);
}

class PlaneError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly sandboxId?: string,
    readonly port?: number,
    /** A stable error code (E2B's body has only the status in `code`). */
    readonly error?: string,
  ) {
    super(message);
  }

  body(): string {
    return JSON.stringify({
      code: this.status,
      message: this.message,
      ...(this.sandboxId ? { sandboxId: this.sandboxId } : {}),
      ...(this.port !== undefined ? { port: this.port } : {}),
      ...(this.error ? { error: this.error } : {}),
    });
  }
}

/**
 * A CORS preflight to a sandbox's agent, answered here as the agent would: it carries no
 * credentials, so it neither wakes the sandbox nor counts as activity.
 */
function answerPreflight(req: IncomingMessage, res: ServerResponse): void {
  const headers: Record<string, string> = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, PATCH, DELETE",
    "Access-Control-Max-Age": "7200",
  };
  const asked = header(req.headers, "access-control-request-headers");
  if (asked) headers["Access-Control-Allow-Headers"] = asked;
  res.writeHead(204, headers);
  res.end();
}

/**
 * Requests for the agent (envd port, signed file URLs) must have a canonical path, checked in
 * its decoded form (so `/%69nit` is `/init`); requests for a sandbox's own services pass as sent.
 */
function pathFor(req: IncomingMessage, route: Route): ProxyPath {
  const target = req.url ?? "/";
  return route.kind === "sandbox" && route.port !== ENVD_PORT ? passthroughPath(target) : checkProxyPath(target);
}

export class SandboxPlane {
  constructor(private readonly deps: SandboxPlaneDeps) {}

  /** Where a request goes, or null when it is for the control plane. */
  route(req: IncomingMessage, url: URL): Route | null {
    const id = header(req.headers, "e2b-sandbox-id");
    if (id !== undefined) {
      const portHeader = header(req.headers, "e2b-sandbox-port");
      return { kind: "sandbox", id, port: portHeader === undefined ? ENVD_PORT : Number(portHeader) };
    }
    const m = HOST_PATTERN.exec(header(req.headers, "host") ?? "");
    if (m?.[1] && m[2]) return { kind: "sandbox", id: m[2], port: Number(m[1]) };
    if (url.pathname === "/files" && url.searchParams.has("signature")) return { kind: "signed-files" };
    return null;
  }

  /** Serves a sandbox-plane request (after `route` said it is one). */
  async serve(req: IncomingMessage, res: ServerResponse, url: URL, route: Route): Promise<void> {
    try {
      if (route.kind === "sandbox" && route.port === ENVD_PORT && req.method === "OPTIONS") {
        answerPreflight(req, res);
        return;
      }
      const path = pathFor(req, route);
      const { record, port, setCookie } = await this.resolve(req, url, route, path);
      if (setCookie) res.setHeader("Set-Cookie", setCookie);
      await this.deps.activity.track(record.id, async () => {
        const upstream = await this.upstream(record, port, req);
        const headers = await this.headersFor(req, upstream, false, record);
        await forwardHttp(
          req,
          res,
          upstream,
          forwardedPath(url, path.raw),
          headers,
          (err) => this.unreachable(record, port, err),
          upstream.envd ? () => this.refused(record) : undefined,
        );
      });
    } catch (err) {
      const error = this.planeError(err);
      if (res.headersSent) res.destroy();
      else {
        const body = error.body();
        res.writeHead(error.status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
        res.end(body);
      }
    }
  }

  /** Serves an HTTP upgrade (WebSocket) for a sandbox port; anything else is refused. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? "/", "http://burrow.local");
    const route = this.route(req, url);
    const fail = (error: PlaneError) => {
      const body = error.body();
      socket.end(
        `HTTP/1.1 ${error.status} ${error.status === 404 ? "Not Found" : "Error"}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    };
    if (!route) {
      fail(new PlaneError(404, "upgrades are only served for sandbox ports (E2b-Sandbox-Id or <port>-<id>.<domain>)"));
      return;
    }
    void (async () => {
      try {
        const path = pathFor(req, route);
        const { record, port } = await this.resolve(req, url, route, path);
        await this.deps.activity.track(record.id, async () => {
          const upstream = await this.upstream(record, port, req);
          const headers = await this.headersFor(req, upstream, true, record);
          await forwardUpgrade(req, socket, head, upstream, forwardedPath(url, path.raw), headers, (err) =>
            this.unreachable(record, port, err),
          );
        });
      } catch (err) {
        if (socket.writable) fail(this.planeError(err));
        else socket.destroy();
      }
    })();
  }

  /**
   * Headers sent on; a sandbox's own services never see the preview token, and get the Host
   * the sandbox's maskRequestHost names, if it has one.
   */
  private async headersFor(
    req: IncomingMessage,
    upstream: Upstream,
    upgrade: boolean,
    record: SandboxRecord,
  ): Promise<Record<string, string | string[]>> {
    const headers = upstreamHeaders(req.headers, upstream, upgrade);
    if (!upstream.envd) {
      const mask = (await this.deps.e2bStore?.ingress(record.id))?.maskRequestHost;
      if (mask) headers.host = mask.replaceAll(PORT_PLACEHOLDER, String(upstream.port));
      const cookie = forwardedCookie(req.headers.cookie);
      if (cookie === undefined) delete headers.cookie;
      else headers.cookie = cookie;
    }
    return headers;
  }

  private async resolve(
    req: IncomingMessage,
    url: URL,
    route: Route,
    path: ProxyPath,
  ): Promise<{ record: SandboxRecord; port: number; setCookie?: string }> {
    if (route.kind === "signed-files") {
      const record = (await this.deps.sandboxes.list()).find(
        (r) => r.state !== "deleting" && signatureMatches(url, req.method ?? "GET", r.agentToken),
      );
      if (!record)
        throw new PlaneError(401, "the signature matches no sandbox (wrong, expired, or the sandbox is gone)");
      return { record, port: ENVD_PORT };
    }
    const { id, port } = route;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new PlaneError(
        400,
        `the port must be a number from 1 to 65535, not '${port}'`,
        id,
        undefined,
        "validation_failed",
      );
    }
    const record = isSandboxId(id) ? await this.lookup(id) : undefined;
    // E2B's proxy says this very sentence; programs written for E2B look for it.
    if (!record) throw new PlaneError(502, "The sandbox was not found", id, port, "sandbox_not_found");
    if (record.state === "error") {
      throw new PlaneError(502, `sandbox ${id} is not running: ${record.error ?? "error"}`, id);
    }
    if (port === ENVD_PORT) {
      // E2B's health probe of a paused sandbox says "not running" rather than waking it: the SDK's
      // isRunning() depends on it, and so does its check after a stream a pause cut.
      if (path.decoded === "/health" && e2bState(record.state) === "paused") {
        throw new PlaneError(502, `sandbox ${id} is paused (${record.state}); any other request wakes it`, id);
      }
      await this.authorizeEnvd(req, url, record, path.decoded);
      if (isReservedAgentPath(path.decoded)) {
        throw new PlaneError(403, "/init is reserved for the Burrow server", id);
      }
      return { record, port };
    }
    const trafficToken = (await this.deps.e2bStore?.ingress(record.id))?.trafficToken;
    if (trafficToken) {
      // allowPublicTraffic: false — every port but the agent's wants the token (or a Burrow key).
      const given = header(req.headers, TRAFFIC_TOKEN_HEADER);
      const apiKey = header(req.headers, "x-api-key");
      if (given !== undefined && safeEqual(given, trafficToken)) return { record, port };
      if (apiKey !== undefined && (await this.deps.keys.verify(apiKey))) return { record, port };
      throw new PlaneError(
        403,
        `port ${port} of sandbox ${id} needs the sandbox's trafficAccessToken in the ${TRAFFIC_TOKEN_HEADER} header (created with allowPublicTraffic: false)`,
        id,
        port,
        "traffic_token_required",
      );
    }
    const access = (await this.deps.previews?.authorize(req, url, record.id, port)) ?? {};
    if ("status" in access) throw new PlaneError(access.status, access.message, id, port, access.code);
    return access.setCookie ? { record, port, setCookie: access.setCookie } : { record, port };
  }

  private async lookup(id: string): Promise<SandboxRecord | undefined> {
    try {
      const record = await this.deps.sandboxes.get(id);
      return record.state === "deleting" ? undefined : record;
    } catch {
      return undefined;
    }
  }

  /**
   * The agent checks its token itself; checking here too keeps requests without it from waking
   * the sandbox. `/health` and CORS preflights need none, a signed `/files` URL is its own proof,
   * and a Burrow API key in `X-API-Key` stands in for the token (the proxy then adds it).
   */
  private async authorizeEnvd(
    req: IncomingMessage,
    url: URL,
    record: SandboxRecord,
    decodedPath: string,
  ): Promise<void> {
    if (decodedPath === "/health" || req.method === "OPTIONS") return;
    const token = header(req.headers, "x-access-token");
    if (token !== undefined) {
      if (safeEqual(token, record.agentToken)) return;
      throw new PlaneError(401, "X-Access-Token does not match the sandbox's envdAccessToken", record.id);
    }
    if (decodedPath === "/files" && signatureMatches(url, req.method ?? "GET", record.agentToken)) return;
    const apiKey = header(req.headers, "x-api-key");
    if (apiKey && (await this.deps.keys.verify(apiKey))) {
      req.headers["x-access-token"] = record.agentToken;
      return;
    }
    throw new PlaneError(
      401,
      "missing X-Access-Token (the envdAccessToken returned when the sandbox was created)",
      record.id,
    );
  }

  private async upstream(record: SandboxRecord, port: number, req: IncomingMessage): Promise<Upstream> {
    let awake: SandboxRecord;
    try {
      awake = await this.deps.lifecycle.ensureAwake(record.id);
    } catch (err) {
      throw new PlaneError(502, `sandbox ${record.id} could not be woken: ${(err as Error).message}`, record.id);
    }
    const { host } = this.deps.sandboxes.agentEndpoint(awake);
    return {
      host,
      port,
      connections: this.deps.connections,
      envd: port === ENVD_PORT,
      clientAddress: req.socket.remoteAddress ?? "",
      clientTls: "encrypted" in req.socket && req.socket.encrypted === true,
    };
  }

  /**
   * The agent answered 401 although the request carried the sandbox's token (checked in
   * authorizeEnvd, or a signature made with it): the token may have been changed from inside.
   */
  private async refused(record: SandboxRecord): Promise<PlaneError | null> {
    const guard = this.deps.agentGuard;
    if (!guard) return null;
    const error = lockoutError(record.id, await guard.check(record));
    return error && new PlaneError(error.status, error.message, record.id, undefined, error.code);
  }

  private async unreachable(record: SandboxRecord, port: number, err: Error): Promise<PlaneError> {
    if (port !== ENVD_PORT) {
      return new PlaneError(
        502,
        `nothing answers on port ${port} in sandbox ${record.id}: ${err.message}`,
        record.id,
        port,
        "port_unreachable",
      );
    }
    const alive = await this.deps.sandboxes.checkAlive(record).catch(() => true);
    this.deps.logger.warn({ sandboxId: record.id, err: err.message }, "agent unreachable");
    return new PlaneError(
      502,
      alive
        ? `sandbox ${record.id} agent is unreachable: ${err.message}`
        : `sandbox ${record.id} is not running: ${record.error ?? ""}`,
      record.id,
    );
  }

  private planeError(err: unknown): PlaneError {
    if (err instanceof PlaneError) return err;
    if (err instanceof BurrowError) return new PlaneError(err.status, err.message, undefined, undefined, err.code);
    this.deps.logger.error({ err: String((err as Error)?.stack ?? err) }, "sandbox proxy error");
    return new PlaneError(500, "internal error");
  }
}
