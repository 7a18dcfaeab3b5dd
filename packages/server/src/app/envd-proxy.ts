import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { BurrowError, ErrorCode } from "@burrow/core";
import type { TokenCheck } from "../services/agent-guard.js";
import { type ForwardTarget, forwardHttp } from "./forward.js";
import { checkProxyPath } from "./proxy-path.js";

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
  onRefused?: () => Promise<BurrowError | null>,
): Promise<void> {
  const answer = (error: BurrowError) => ({ status: error.status, body: () => JSON.stringify(error.toBody()) });
  return forwardHttp(
    req,
    res,
    target,
    path,
    agentHeaders(req.headers, target.agentToken),
    async (err) => answer(await onUnreachable(err)),
    onRefused &&
      (async () => {
        const error = await onRefused();
        return error && answer(error);
      }),
  );
}

/**
 * What the client is told after the agent refused the server's own token and the server took
 * the agent back (`null`: the token was fine, the 401 is the agent's answer to the request).
 */
export function lockoutError(sandboxId: string, check: TokenCheck): BurrowError | null {
  if (check !== "restored" && check !== "restarted") return null;
  const how = check === "restored" ? "handed the agent its token again" : "restarted the sandbox on its files";
  return new BurrowError(
    ErrorCode.ServiceUnavailable,
    `sandbox ${sandboxId}'s agent refused the server's access token (it was changed from inside the sandbox); the server ${how}: retry the request`,
    { details: { sandboxId, recovered: check } },
  );
}

/**
 * `/init` sets the agent's access token, default user and sandbox-wide env; only the server
 * calls it (a client could otherwise lock the server out). Both ways into the agent — the envd
 * passthrough and the E2B sandbox plane — refuse it. `decodedPath` is the percent-decoded path
 * (see checkProxyPath), what the agent routes on.
 */
export function isReservedAgentPath(decodedPath: string): boolean {
  return decodedPath.replace(/\/+$/, "").toLowerCase() === "/init";
}

const ENVD_PREFIX = /^\/v1\/sandboxes\/[^/?]+\/envd(?=[/?]|$)/;

/**
 * The agent path of a `/v1/sandboxes/{id}/envd/<path>` request, as the client sent it (query
 * included), after checking its decoded form: a malformed or non-canonical path is a 400 and
 * `/init` (however encoded) a 403.
 */
export function clientAgentPath(method: string, target: string): string {
  const m = ENVD_PREFIX.exec(target);
  if (!m) {
    throw new BurrowError(ErrorCode.BadRequest, "the envd path must follow /v1/sandboxes/{id}/envd literally", {
      details: { reason: "non_canonical_path" },
    });
  }
  let rest = target.slice(m[0].length);
  if (!rest.startsWith("/")) rest = `/${rest}`;
  const path = checkProxyPath(rest);
  if (isReservedAgentPath(path.decoded)) {
    throw new BurrowError(ErrorCode.Forbidden, `${method} /init is reserved for the Burrow server`, {
      details: { path: "/init" },
    });
  }
  return `${path.raw}${path.search}`;
}

export function unreachableError(sandboxId: string, err: Error): BurrowError {
  return new BurrowError(ErrorCode.SandboxUnreachable, `sandbox ${sandboxId} agent is unreachable: ${err.message}`, {
    details: { sandboxId },
  });
}
