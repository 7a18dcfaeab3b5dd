/**
 * Serving MCP clients over Streamable HTTP. Every request carries `Authorization: Bearer <key>`
 * with a Burrow API key; a new session is opened only after Burrow accepts that key, the
 * session's Burrow calls use it, and later requests of the session must carry the same key.
 */
import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type Logger, silentLogger } from "@burrow/core";
import type { ConnectionOptions } from "@burrow/sdk";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { verifyApiKey } from "./auth.js";
import { formatError } from "./errors.js";
import { createBurrowMcpServer } from "./server.js";

export const DEFAULT_HTTP_HOST = "127.0.0.1";
export const MCP_HTTP_PATH = "/mcp";
/** Sessions without a request for this long are closed. */
export const DEFAULT_SESSION_IDLE_TIMEOUT_MS = 60 * 60_000;
/** Largest request body: room for a 10 MiB file sent base64-encoded to write_file. */
export const MAX_BODY_BYTES = 32 * 1024 * 1024;

export interface HttpOptions {
  /** Port to listen on; 0 picks a free one. */
  port: number;
  /** Address to listen on; default 127.0.0.1. */
  host?: string;
  /** Burrow server and request settings for every session; the API key comes from each client. */
  connection?: Omit<ConnectionOptions, "apiKey">;
  logger?: Logger;
  sessionIdleTimeoutMs?: number;
}

export interface HttpMcpServer {
  /** The MCP endpoint, e.g. http://127.0.0.1:7071/mcp. */
  url: string;
  /** Closes every session and stops listening. */
  close(): Promise<void>;
}

interface SessionEntry {
  transport: StreamableHTTPServerTransport;
  keyDigest: Buffer;
  lastSeen: number;
}

const digest = (key: string): Buffer => createHash("sha256").update(key).digest();

function bearerKey(req: IncomingMessage): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "");
  return match?.[1];
}

/** Answers with a JSON-RPC error body, as MCP clients expect from this endpoint. */
function sendError(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const body = JSON.stringify({ jsonrpc: "2.0", error: { code: -32000, message }, id: null });
  res.writeHead(status, { "Content-Type": "application/json", ...headers }).end(body);
}

function unauthorized(res: ServerResponse, message: string): void {
  sendError(res, 401, `${message} (unauthorized)`, { "WWW-Authenticate": 'Bearer realm="burrow"' });
}

/** Reads and parses a JSON body; answers the request itself and returns undefined on failure. */
async function readJsonBody(req: IncomingMessage, res: ServerResponse): Promise<{ body: unknown } | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      sendError(res, 413, `request body is larger than ${MAX_BODY_BYTES} bytes (payload_too_large)`);
      return undefined;
    }
    chunks.push(chunk);
  }
  try {
    return { body: JSON.parse(Buffer.concat(chunks).toString("utf8")) };
  } catch {
    sendError(res, 400, "request body is not valid JSON (bad_request)");
    return undefined;
  }
}

function isInitialize(body: unknown): boolean {
  return Array.isArray(body) ? body.some((m) => isInitializeRequest(m)) : isInitializeRequest(body);
}

export async function serveHttp(options: HttpOptions): Promise<HttpMcpServer> {
  const logger = options.logger ?? silentLogger;
  const connection = options.connection ?? {};
  const sessions = new Map<string, SessionEntry>();

  const openSession = async (req: IncomingMessage, res: ServerResponse, key: string, body: unknown) => {
    let verdict: "ok" | "unauthorized";
    try {
      verdict = await verifyApiKey({ ...connection, apiKey: key });
    } catch (err) {
      logger.warn({ err: formatError(err) }, "could not check an MCP client's API key");
      sendError(res, 503, `could not check the API key with Burrow: ${formatError(err)}`);
      return;
    }
    if (verdict === "unauthorized") {
      logger.warn({}, "MCP client sent an API key Burrow rejected");
      unauthorized(res, "Burrow rejected the API key");
      return;
    }
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: randomUUID,
      onsessioninitialized: (id) => {
        sessions.set(id, { transport, keyDigest: digest(key), lastSeen: Date.now() });
        logger.info({ sessionId: id }, "MCP session opened");
      },
    });
    transport.onclose = () => {
      const id = transport.sessionId;
      if (id !== undefined && sessions.delete(id)) logger.info({ sessionId: id }, "MCP session closed");
    };
    const server = createBurrowMcpServer({ connection: { ...connection, apiKey: key }, logger });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
    // An initialize the transport rejected leaves no session behind.
    if (transport.sessionId === undefined) await server.close();
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname !== MCP_HTTP_PATH) {
      sendError(res, 404, `no MCP endpoint at ${url.pathname}; use ${MCP_HTTP_PATH} (not_found)`);
      return;
    }
    const key = bearerKey(req);
    if (key === undefined) {
      unauthorized(res, "missing 'Authorization: Bearer <Burrow API key>' header");
      return;
    }
    const sessionId = req.headers["mcp-session-id"];
    if (typeof sessionId === "string") {
      const entry = sessions.get(sessionId);
      if (entry === undefined) {
        sendError(res, 404, "MCP session not found or expired; initialize a new session (not_found)");
        return;
      }
      if (!timingSafeEqual(entry.keyDigest, digest(key))) {
        unauthorized(res, "the API key differs from the one this session was opened with");
        return;
      }
      entry.lastSeen = Date.now();
      const parsed = req.method === "POST" ? await readJsonBody(req, res) : { body: undefined };
      if (parsed !== undefined) await entry.transport.handleRequest(req, res, parsed.body);
      return;
    }
    if (req.method !== "POST") {
      sendError(res, 400, "no Mcp-Session-Id header; POST an initialize request first (bad_request)");
      return;
    }
    const parsed = await readJsonBody(req, res);
    if (parsed === undefined) return;
    if (!isInitialize(parsed.body)) {
      sendError(res, 400, "no Mcp-Session-Id header; the first request must be initialize (bad_request)");
      return;
    }
    await openSession(req, res, key, parsed.body);
  };

  const http = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger.error({ err: formatError(err) }, "MCP HTTP request failed");
      sendError(res, 500, formatError(err));
    });
  });

  const idleMs = options.sessionIdleTimeoutMs ?? DEFAULT_SESSION_IDLE_TIMEOUT_MS;
  const sweeper = setInterval(
    () => {
      const cutoff = Date.now() - idleMs;
      for (const entry of sessions.values()) if (entry.lastSeen < cutoff) void entry.transport.close();
    },
    Math.min(60_000, Math.max(1_000, idleMs / 2)),
  );
  sweeper.unref();

  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(options.port, options.host ?? DEFAULT_HTTP_HOST, () => {
      http.off("error", reject);
      resolve();
    });
  });
  const address = http.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}${MCP_HTTP_PATH}`,
    async close() {
      clearInterval(sweeper);
      await Promise.all([...sessions.values()].map((entry) => entry.transport.close()));
      sessions.clear();
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
    },
  };
}
