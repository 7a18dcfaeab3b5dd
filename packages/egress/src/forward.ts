import { request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import {
  type Agent as HttpsAgent,
  type RequestOptions as HttpsRequestOptions,
  request as httpsRequest,
} from "node:https";
import { type Socket, connect as tcpConnect } from "node:net";
import type { Duplex } from "node:stream";
import { type SecureContext, connect as tlsConnect } from "node:tls";

/**
 * Where a proxied request goes: an address, and for HTTPS the name its certificate must carry,
 * the context holding the CAs it is verified against, and a keep-alive agent to reuse connections.
 */
export interface Upstream {
  ip: string;
  port: number;
  tls?: { servername: string; secureContext: SecureContext; agent: HttpsAgent };
}

export function refuse(res: ServerResponse, status: number, message: string): void {
  const body = `${message}\n`;
  res.writeHead(status, {
    "Content-Type": "text/plain",
    "Content-Length": Buffer.byteLength(body),
    Connection: "close",
  });
  res.end(body);
}

/** Sends the request (with `headers`, raw name/value pairs) upstream and streams the answer back. */
export function forwardRequest(
  req: IncomingMessage,
  res: ServerResponse,
  upstream: Upstream,
  headers: string[],
): Promise<void> {
  return new Promise<void>((resolve) => {
    const options = {
      host: upstream.ip,
      port: upstream.port,
      method: req.method,
      path: req.url,
      headers,
    };
    const onResponse = (upRes: IncomingMessage) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
      upRes.on("end", resolve);
      upRes.on("error", () => {
        res.destroy();
        resolve();
      });
    };
    const tls = upstream.tls;
    // https passes `secureContext` on to tls.connect; its option type does not list it.
    const httpsOptions: HttpsRequestOptions & { secureContext?: SecureContext } = tls
      ? { ...options, agent: tls.agent, servername: tls.servername, secureContext: tls.secureContext }
      : {};
    const up = tls ? httpsRequest(httpsOptions, onResponse) : httpRequest({ ...options, agent: false }, onResponse);
    up.on("error", (err) => {
      if (!res.headersSent) refuse(res, 502, `Burrow egress: ${err.message}`);
      else res.destroy();
      resolve();
    });
    res.on("close", () => {
      if (!res.writableFinished) up.destroy();
      resolve();
    });
    req.pipe(up);
  });
}

/** Opens a connection upstream for an upgrade (WebSocket), replays the request head, then splices. */
export function forwardUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  upstream: Upstream,
  headers: string[],
): void {
  const start = () => {
    const lines = [`${req.method} ${req.url} HTTP/1.1`];
    for (let i = 0; i < headers.length; i += 2) lines.push(`${headers[i]}: ${headers[i + 1]}`);
    up.write(`${lines.join("\r\n")}\r\n\r\n`);
    if (head.length > 0) up.write(head);
    up.pipe(socket);
    socket.pipe(up);
  };
  const up: Socket = upstream.tls
    ? tlsConnect(
        {
          host: upstream.ip,
          port: upstream.port,
          servername: upstream.tls.servername,
          secureContext: upstream.tls.secureContext,
        },
        start,
      )
    : tcpConnect(upstream.port, upstream.ip, start);
  up.on("error", () => socket.destroy());
  socket.on("error", () => up.destroy());
}
