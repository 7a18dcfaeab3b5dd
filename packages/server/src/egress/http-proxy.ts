import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import { connect } from "node:net";
import type { Duplex } from "node:stream";
import type { Logger } from "@burrow/core";
import type { EgressService } from "./egress-service.js";
import type { NameResolver } from "./resolve.js";
import { hostOnly, resolveTarget } from "./target.js";

function refuse(res: ServerResponse, status: number, message: string): void {
  const body = `${message}\n`;
  res.writeHead(status, {
    "Content-Type": "text/plain",
    "Content-Length": Buffer.byteLength(body),
    Connection: "close",
  });
  res.end(body);
}

/**
 * The sandboxes' plain HTTP (their TCP port 80 is redirected here): every request's Host is
 * checked against the sandbox's egress policy, then the request is forwarded to that host's
 * address and the answer streamed back. Upgrades (WebSocket) are checked the same way.
 */
export class HttpEgressProxy {
  private server: Server | undefined;

  constructor(
    private readonly egress: EgressService,
    private readonly resolver: NameResolver,
    private readonly logger: Logger,
  ) {}

  async listen(): Promise<number> {
    const server = createServer((req, res) => {
      this.forward(req, res).catch((err: unknown) => {
        this.logger.warn({ err: String(err) }, "http egress proxy error");
        if (!res.headersSent) refuse(res, 502, "Burrow egress proxy error");
        else res.destroy();
      });
    });
    server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.upgrade(req, socket, head).catch(() => socket.destroy());
    });
    server.keepAliveTimeout = 30_000;
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, "0.0.0.0", resolve));
    const address = server.address();
    return typeof address === "object" && address ? address.port : 0;
  }

  private async check(req: IncomingMessage): Promise<{ ip: string } | { status: number; message: string }> {
    const sandbox = this.egress.sandboxAt(req.socket.remoteAddress);
    if (!sandbox) return { status: 403, message: "not a sandbox of this Burrow server" };
    const host = hostOnly(req.headers.host);
    if (!host) return { status: 400, message: "Burrow egress: the request has no Host header" };
    const target = await resolveTarget(this.egress, this.resolver, sandbox.id, host);
    if ("denied" in target) {
      this.egress.denied(sandbox.id, "http", host);
      return { status: 403, message: `Burrow egress: ${target.denied}` };
    }
    if ("failed" in target) return { status: 502, message: `Burrow egress: ${target.failed}` };
    return target;
  }

  private async forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = await this.check(req);
    if ("status" in target) return refuse(res, target.status, target.message);
    await new Promise<void>((resolve) => {
      const up = request(
        { host: target.ip, port: 80, method: req.method, path: req.url, headers: req.headers, agent: false },
        (upRes) => {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
          upRes.on("end", resolve);
          upRes.on("error", () => {
            res.destroy();
            resolve();
          });
        },
      );
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

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const target = await this.check(req);
    if ("status" in target) {
      socket.end(
        `HTTP/1.1 ${target.status} Refused\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${target.message}\n`,
      );
      return;
    }
    const up = connect(80, target.ip, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      up.write(`${lines.join("\r\n")}\r\n\r\n`);
      if (head.length > 0) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    up.on("error", () => socket.destroy());
    socket.on("error", () => up.destroy());
  }

  close(): void {
    this.server?.closeAllConnections();
    this.server?.close();
  }
}
