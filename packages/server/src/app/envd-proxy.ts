import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { BurrowError, ErrorCode } from "@burrow/core";
import { type ForwardTarget, forwardHttp } from "./forward.js";

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

export interface ProxyTarget extends ForwardTarget {
  sandboxId: string;
  agentToken: string;
}

/** Burrow's credentials out, the agent's in: its token, and the user as envd's Basic header. */
function agentHeaders(headers: IncomingHttpHeaders, token: string): Record<string, string | string[]> {
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
 * Forwards one `/v1/sandboxes/{id}/envd/<path>` request to the agent's `path`, streaming both
 * ways. `onUnreachable` turns a failed connection into the error the client gets.
 */
export function proxyToAgent(
  req: IncomingMessage,
  res: ServerResponse,
  target: ProxyTarget,
  path: string,
  onUnreachable: (err: Error) => Promise<BurrowError>,
): Promise<void> {
  return forwardHttp(req, res, target, path, agentHeaders(req.headers, target.agentToken), async (err) => {
    const error = await onUnreachable(err);
    return { status: error.status, body: () => JSON.stringify(error.toBody()) };
  });
}

/**
 * `/init` sets the agent's access token, default user and sandbox-wide env; only the server
 * calls it (a client could otherwise lock the server out). Both ways into the agent — the envd
 * passthrough and the E2B sandbox plane — refuse it.
 */
export function isReservedAgentPath(agentPath: string): boolean {
  const path = (agentPath.split("?")[0] ?? "").replace(/\/+/g, "/").replace(/\/$/, "");
  return path.toLowerCase() === "/init";
}

export function assertClientMayCall(method: string, agentPath: string): void {
  if (isReservedAgentPath(agentPath)) {
    throw new BurrowError(ErrorCode.Forbidden, `${method} /init is reserved for the Burrow server`, {
      details: { path: "/init" },
    });
  }
}

export function unreachableError(sandboxId: string, err: Error): BurrowError {
  return new BurrowError(ErrorCode.SandboxUnreachable, `sandbox ${sandboxId} agent is unreachable: ${err.message}`, {
    details: { sandboxId },
  });
}
