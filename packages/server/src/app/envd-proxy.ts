import { type IncomingHttpHeaders, type IncomingMessage, request, type ServerResponse } from "node:http";
import { BurrowError, ErrorCode, type Logger } from "@burrow/core";
import { agentPools } from "../services/agent-client.js";

/** Request headers that belong to the client↔server hop, not to the agent. */
const DROPPED_REQUEST_HEADERS = new Set([
  "authorization",
  "x-api-key",
  "host",
  "connection",
  "keep-alive",
  "proxy-connection",
  "x-burrow-user",
  "x-access-token",
  "upgrade",
  "te",
]);
const DROPPED_RESPONSE_HEADERS = new Set(["connection", "keep-alive", "transfer-encoding"]);

export interface ProxyTarget {
  sandboxId: string;
  host: string;
  port: number;
  agentToken: string;
}

function forwardHeaders(headers: IncomingHttpHeaders, token: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || DROPPED_REQUEST_HEADERS.has(name)) continue;
    out[name] = value;
  }
  out["x-access-token"] = token;
  const user = headers["x-burrow-user"];
  const userName = Array.isArray(user) ? user[0] : user;
  if (userName) out.authorization = `Basic ${Buffer.from(`${userName}:`).toString("base64")}`;
  return out;
}

/**
 * Forwards one request to the sandbox agent's `path`, streaming both ways.
 * Calls `onUnreachable` when the agent cannot be reached, so the caller can check the sandbox.
 */
export function proxyToAgent(
  req: IncomingMessage,
  res: ServerResponse,
  target: ProxyTarget,
  path: string,
  logger: Logger,
  onUnreachable: (err: Error) => Promise<BurrowError>,
): Promise<void> {
  return new Promise((resolve) => {
    const upstream = request(
      {
        host: target.host,
        port: target.port,
        path,
        method: req.method,
        headers: forwardHeaders(req.headers, target.agentToken),
        agent: agentPools.get(target.host),
      },
      (up) => {
        const headers: Record<string, string | string[]> = {};
        for (const [name, value] of Object.entries(up.headers)) {
          if (value !== undefined && !DROPPED_RESPONSE_HEADERS.has(name)) headers[name] = value;
        }
        res.writeHead(up.statusCode ?? 502, headers);
        res.flushHeaders();
        up.pipe(res);
        up.on("end", () => resolve());
        up.on("error", () => {
          res.destroy();
          resolve();
        });
      },
    );
    upstream.setNoDelay?.(true);
    // A client that goes away ends the upstream request too (and with it, e.g., a stream).
    res.on("close", () => {
      if (!res.writableFinished) upstream.destroy();
      resolve();
    });
    upstream.on("error", (err) => {
      if (res.headersSent) {
        res.destroy();
        resolve();
        return;
      }
      void onUnreachable(err).then((error) => {
        logger.warn({ sandboxId: target.sandboxId, err: err.message }, "agent unreachable");
        if (!res.headersSent) {
          const body = JSON.stringify(error.toBody());
          res.writeHead(error.status, { "Content-Type": "application/json" });
          res.end(body);
        }
        resolve();
      });
    });
    req.pipe(upstream);
  });
}

/**
 * Agent paths clients may not reach: `/init` sets the agent's access token, default user and
 * sandbox-wide env; only the server calls it (a client could otherwise lock the server out).
 */
export function assertClientMayCall(method: string, agentPath: string): void {
  const path = agentPath.split("?")[0]?.replace(/\/+/g, "/").replace(/\/$/, "") ?? "";
  if (path.toLowerCase() === "/init") {
    throw new BurrowError(ErrorCode.Forbidden, `${method} ${path} is reserved for the Burrow server`, {
      details: { path },
    });
  }
}

export function unreachableError(sandboxId: string, err: Error): BurrowError {
  return new BurrowError(ErrorCode.SandboxUnreachable, `sandbox ${sandboxId} agent is unreachable: ${err.message}`, {
    details: { sandboxId },
  });
}
