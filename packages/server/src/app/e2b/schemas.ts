import { BurrowError, ErrorCode } from "@burrow/core";
import { z } from "zod";
import { parseBody } from "../schemas.js";
import { type E2bState, PORT_PLACEHOLDER } from "./wire.js";

/** E2B's request bodies. Unknown fields are ignored, as E2B's API does. */

const seconds = z
  .number()
  .int()
  .min(0)
  .max(10 * 365 * 24 * 3600);

const NetworkSchema = z.object({
  allowOut: z.array(z.string()).optional(),
  denyOut: z.array(z.string()).optional(),
  rules: z.record(z.string(), z.unknown()).optional(),
  egressProxy: z.unknown().optional(),
  allowPublicTraffic: z.boolean().optional(),
  // A Host header value (host[:port]) in which `${PORT}` stands for the port requested.
  maskRequestHost: z
    .string()
    .max(255)
    .refine((v) => /^[A-Za-z0-9._~:[\]-]+$/.test(v.replaceAll(PORT_PLACEHOLDER, "1")), {
      message: `must be a host[:port] for the Host header, in which ${PORT_PLACEHOLDER} stands for the port requested`,
    })
    .optional(),
  httpsPorts: z.array(z.number()).optional(),
});

export const NewSandboxSchema = z.object({
  templateID: z.string().min(1).default("base"),
  timeout: seconds.optional(),
  autoPause: z.boolean().optional(),
  autoPauseMemory: z.boolean().optional(),
  autoResume: z.object({ enabled: z.boolean() }).optional(),
  secure: z.boolean().optional(),
  allow_internet_access: z.boolean().optional(),
  network: NetworkSchema.optional(),
  metadata: z.record(z.string(), z.string()).optional(),
  envVars: z.record(z.string(), z.string()).optional(),
  mcp: z.record(z.string(), z.unknown()).nullable().optional(),
  iam: z.unknown().optional(),
  volumeMounts: z
    .array(z.object({ name: z.string().min(1).max(200), path: z.string().min(1).max(1024) }))
    .max(16)
    .optional(),
});
export type NewSandbox = z.infer<typeof NewSandboxSchema>;

export const ConnectSchema = z.object({ timeout: seconds.optional(), memory: z.boolean().optional() });
export const TimeoutSchema = z.object({ timeout: seconds });
export const PauseSchema = z.object({ memory: z.boolean().optional() });
export const RefreshSchema = z.object({ duration: z.number().int().min(0).max(3600).optional() });

function unsupported(what: string, why: string): BurrowError {
  return new BurrowError(ErrorCode.BadRequest, `${what} is not supported by Burrow: ${why}`, {
    details: { unsupported: what },
  });
}

/** E2B network settings Burrow has no counterpart for; egress (allowOut/denyOut) is mapped. */
function refuseUnsupportedNetwork(
  net:
    | {
        rules?: Record<string, unknown> | undefined;
        egressProxy?: unknown;
        httpsPorts?: number[] | undefined;
      }
    | undefined,
): void {
  if (!net) return;
  if (net.rules !== undefined && Object.keys(net.rules).length > 0)
    throw unsupported(
      "network.rules",
      "inject credentials with Burrow's secrets instead (POST /v1/secrets, then network.secrets on POST /v1/sandboxes); see docs/networking.md",
    );
  for (const key of ["egressProxy", "httpsPorts"] as const) {
    const value = net[key];
    if (value !== undefined && value !== null && !(Array.isArray(value) && value.length === 0))
      throw unsupported(`network.${key}`, "Burrow's egress goes through its own proxies on this host");
  }
}

export const NetworkUpdateSchema = z.object({
  allow_internet_access: z.boolean().optional(),
  allowOut: z.array(z.string()).optional(),
  denyOut: z.array(z.string()).optional(),
  rules: z.record(z.string(), z.unknown()).optional(),
  egressProxy: z.unknown().optional(),
});

export function parseNetworkUpdate(body: unknown): z.infer<typeof NetworkUpdateSchema> {
  const req = parseBody(NetworkUpdateSchema, body);
  refuseUnsupportedNetwork(req);
  return req;
}

/**
 * Parses a create body and refuses what Burrow cannot honour, rather than ignoring a setting the
 * caller relies on (network policy, volumes, MCP gateway, workload identity).
 */
export function parseNewSandbox(body: unknown): NewSandbox {
  const req = parseBody(NewSandboxSchema, body);
  refuseUnsupportedNetwork(req.network);
  if (req.mcp) throw unsupported("mcp", "there is no MCP gateway template");
  if (req.iam !== undefined && req.iam !== null) throw unsupported("iam", "there is no workload identity provider");
  return req;
}

export function parseConnect(body: unknown): z.infer<typeof ConnectSchema> {
  return parseBody(ConnectSchema, body);
}

export function parseTimeout(body: unknown): z.infer<typeof TimeoutSchema> {
  return parseBody(TimeoutSchema, body);
}

export function parsePause(body: unknown): z.infer<typeof PauseSchema> {
  return parseBody(PauseSchema, body);
}

export function parseRefresh(body: unknown): z.infer<typeof RefreshSchema> {
  return parseBody(RefreshSchema, body);
}

/** A decoded component, or the raw one when it is not valid percent-encoding. */
function decodeLoose(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * E2B's metadata filter: `metadata=<k1=v1&k2=v2>` where the SDK percent-encodes each key and value
 * before joining them, so each one is decoded once more after splitting.
 */
export function parseE2bMetadataFilter(url: URL): Record<string, string> {
  const filter: Record<string, string> = {};
  for (const raw of url.searchParams.getAll("metadata")) {
    for (const [k, v] of new URLSearchParams(raw)) filter[decodeLoose(k)] = decodeLoose(v);
  }
  return filter;
}

export interface ListQuery {
  metadata: Record<string, string>;
  states: Set<E2bState>;
  template: string | undefined;
  startedAfter: number | undefined;
  order: "asc" | "desc";
  limit: number;
  /** Cursor: the (createdAt, id) of the last sandbox of the previous page. */
  after: { createdAt: string; id: string } | undefined;
}

export const MAX_PAGE = 100;

function bad(message: string): BurrowError {
  return new BurrowError(ErrorCode.BadRequest, message);
}

export function encodeNextToken(createdAt: string, id: string): string {
  return Buffer.from(JSON.stringify([createdAt, id])).toString("base64url");
}

export function decodeNextToken(token: string): { createdAt: string; id: string } {
  try {
    const value = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as unknown;
    if (Array.isArray(value) && typeof value[0] === "string" && typeof value[1] === "string")
      return { createdAt: value[0], id: value[1] };
  } catch {
    // fall through
  }
  throw bad("nextToken is not a token this server issued");
}

/** The query of GET /v2/sandboxes: metadata, state (comma-separated), template, startedAfter, order, paging. */
export function parseListQuery(url: URL): ListQuery {
  const q = url.searchParams;
  const states = new Set<E2bState>();
  for (const s of q.getAll("state").flatMap((v) => v.split(","))) {
    if (s === "") continue;
    if (s !== "running" && s !== "paused") throw bad(`state must be running or paused, not '${s}'`);
    states.add(s);
  }
  if (states.size === 0) {
    states.add("running");
    states.add("paused");
  }
  const order = q.get("order") ?? "desc";
  if (order !== "asc" && order !== "desc") throw bad(`order must be asc or desc, not '${order}'`);
  const limitRaw = q.get("limit");
  const limit = limitRaw === null ? MAX_PAGE : Number(limitRaw);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw bad(`limit must be 1..${MAX_PAGE}`);
  const startedAfterRaw = q.get("startedAfter");
  const startedAfter = startedAfterRaw ? Date.parse(startedAfterRaw) : undefined;
  if (startedAfter !== undefined && Number.isNaN(startedAfter)) throw bad("startedAfter must be an ISO-8601 time");
  const token = q.get("nextToken");
  return {
    metadata: parseE2bMetadataFilter(url),
    states,
    template: q.get("template") || undefined,
    startedAfter,
    order,
    limit,
    after: token ? decodeNextToken(token) : undefined,
  };
}
