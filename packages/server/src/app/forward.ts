import { type IncomingHttpHeaders, type IncomingMessage, request, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { AgentConnections } from "../services/agent-connections.js";

/** Where a forwarded request goes: an address on a sandbox's network, and the pool of its connections. */
export interface ForwardTarget {
  host: string;
  port: number;
  connections: AgentConnections;
}

/** The answer sent when the target cannot be reached. */
export interface ErrorAnswer {
  status: number;
  body(): string;
}

/** Hop-by-hop response headers that belong to the upstream connection. */
const DROPPED_RESPONSE = new Set(["connection", "keep-alive", "transfer-encoding"]);

function responseHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !DROPPED_RESPONSE.has(name)) out[name] = value;
  }
  return out;
}

/**
 * Forwards one HTTP request to a sandbox, streaming both ways (Connect server-streams, file
 * transfers), with the `headers` the caller prepared. Keep-alive connections come from the
 * sandbox's pool, which the lifecycle closes before a checkpoint. The envd passthrough and the
 * E2B sandbox plane both forward through here.
 */
export function forwardHttp(
  req: IncomingMessage,
  res: ServerResponse,
  upstream: ForwardTarget,
  path: string,
  headers: Record<string, string | string[]>,
  onUnreachable: (err: Error) => Promise<ErrorAnswer>,
  onRefused?: () => Promise<ErrorAnswer | null>,
): Promise<void> {
  return new Promise((resolve) => {
    const up = request(
      {
        host: upstream.host,
        port: upstream.port,
        path,
        method: req.method,
        headers,
        agent: upstream.connections.get(upstream.host),
      },
      (upRes) => {
        if (onRefused && upRes.statusCode === 401) {
          void answerRefused(res, upRes, onRefused).finally(resolve);
          return;
        }
        res.writeHead(upRes.statusCode ?? 502, responseHeaders(upRes.headers));
        res.flushHeaders();
        upRes.pipe(res);
        upRes.on("end", () => resolve());
        upRes.on("error", () => {
          res.destroy();
          resolve();
        });
      },
    );
    up.setNoDelay?.(true);
    // A client that goes away ends the upstream request too (and with it, e.g., a stream).
    res.on("close", () => {
      if (!res.writableFinished) up.destroy();
      resolve();
    });
    up.on("error", (err) => {
      if (res.headersSent) {
        res.destroy();
        resolve();
        return;
      }
      void onUnreachable(err).then((answer) => {
        if (!res.headersSent) {
          const body = answer.body();
          res.writeHead(answer.status, {
            "Content-Type": "application/json",
            "Content-Length": Buffer.byteLength(body),
          });
          res.end(body);
        }
        resolve();
      });
    });
    req.pipe(up);
  });
}

/** Most of a 401 body kept to pass on. */
const MAX_REFUSAL_BODY_BYTES = 64 * 1024;

/**
 * A 401 from the sandbox: `onRefused` decides (after whatever it does about it) whether the
 * client gets its own answer or the 401 as it came.
 */
async function answerRefused(
  res: ServerResponse,
  upRes: IncomingMessage,
  onRefused: () => Promise<ErrorAnswer | null>,
): Promise<void> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of upRes as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size <= MAX_REFUSAL_BODY_BYTES) chunks.push(chunk);
    }
  } catch {
    // A body cut short is passed on as far as it came.
  }
  const answer = await onRefused().catch(() => null);
  if (res.headersSent || res.destroyed) return;
  if (answer) {
    const body = answer.body();
    res.writeHead(answer.status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  const body = Buffer.concat(chunks);
  const headers = responseHeaders(upRes.headers);
  delete headers["content-length"];
  res.writeHead(401, { ...headers, "Content-Length": body.length });
  res.end(body);
}

/** A response head for a raw socket; `close` drops framing headers, as the body then ends with the connection. */
function rawHead(statusCode: number, statusMessage: string, rawHeaders: string[], close = false): string {
  let head = `HTTP/1.1 ${statusCode} ${statusMessage}\r\n`;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] ?? "";
    if (close && DROPPED_RESPONSE.has(name.toLowerCase())) continue;
    head += `${name}: ${rawHeaders[i + 1]}\r\n`;
  }
  return `${head}${close ? "Connection: close\r\n" : ""}\r\n`;
}

/**
 * Forwards an HTTP upgrade (WebSocket) and then the raw bytes both ways until either side
 * closes. The upstream socket is handed to the sandbox's pool so a checkpoint closes it too.
 */
export function forwardUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  upstream: ForwardTarget,
  path: string,
  headers: Record<string, string | string[]>,
  onUnreachable: (err: Error) => Promise<ErrorAnswer>,
): Promise<void> {
  return new Promise((resolve) => {
    const up = request({
      host: upstream.host,
      port: upstream.port,
      path,
      method: req.method,
      headers,
      agent: upstream.connections.get(upstream.host),
    });
    socket.on("error", () => up.destroy());
    up.on("upgrade", (upRes, upSocket, upHead) => {
      upstream.connections.adopt(upstream.host, upSocket);
      socket.write(rawHead(upRes.statusCode ?? 101, upRes.statusMessage ?? "Switching Protocols", upRes.rawHeaders));
      if (upHead.length > 0) socket.write(upHead);
      if (head.length > 0) upSocket.write(head);
      upSocket.pipe(socket);
      socket.pipe(upSocket);
      const done = () => {
        upSocket.destroy();
        socket.destroy();
        resolve();
      };
      upSocket.on("close", done);
      socket.on("close", done);
      upSocket.on("error", done);
    });
    up.on("response", (upRes) => {
      // The service answered without upgrading: pass its answer on and close.
      socket.write(rawHead(upRes.statusCode ?? 502, upRes.statusMessage ?? "", upRes.rawHeaders, true));
      upRes.pipe(socket);
      upRes.on("end", () => {
        socket.end();
        resolve();
      });
    });
    up.on("error", (err) => {
      void onUnreachable(err).then((answer) => {
        const body = answer.body();
        if (socket.writable) {
          socket.end(
            `HTTP/1.1 ${answer.status} Bad Gateway\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
          );
        }
        resolve();
      });
    });
    up.end();
  });
}
