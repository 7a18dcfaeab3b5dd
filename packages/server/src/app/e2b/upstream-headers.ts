import type { IncomingHttpHeaders } from "node:http";
import type { ForwardTarget } from "../forward.js";

/** Where a sandbox-plane request goes. */
export interface Upstream extends ForwardTarget {
  /** The agent's port: the client's X-Access-Token and Authorization (envd's user) go along. */
  envd: boolean;
  clientAddress: string;
  /** The client reached the server over TLS. */
  clientTls: boolean;
}

/** Hop-by-hop headers, and the routing and credential headers meant for Burrow alone. */
const DROPPED = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "e2b-sandbox-id",
  "e2b-sandbox-port",
  "x-api-key",
  "x-burrow-preview-token",
  "e2b-traffic-access-token",
]);

/**
 * The headers sent on. Requests for the agent lose their Host; requests for the sandbox's own
 * services keep it (dev servers check it), gain X-Forwarded-*, and never carry the agent's token,
 * which processes in the sandbox must not see.
 */
export function upstreamHeaders(
  headers: IncomingHttpHeaders,
  upstream: Upstream,
  upgrade: boolean,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || DROPPED.has(name)) continue;
    if (upstream.envd && name === "host") continue;
    if (!upstream.envd && name === "x-access-token") continue;
    out[name] = value;
  }
  if (upgrade) {
    out.connection = "Upgrade";
    const protocol = headers.upgrade;
    if (protocol) out.upgrade = protocol;
  }
  if (!upstream.envd) {
    const prior = headers["x-forwarded-for"];
    out["x-forwarded-for"] = prior ? `${prior}, ${upstream.clientAddress}` : upstream.clientAddress;
    if (headers.host) out["x-forwarded-host"] = headers.host;
    out["x-forwarded-proto"] = upstream.clientTls ? "https" : "http";
  }
  return out;
}
