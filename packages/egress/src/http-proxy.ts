import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { TLSSocket } from "node:tls";
import type { Logger } from "@burrow/core";
import type { EgressControl, SecretBroker } from "./control.js";
import { forwardRequest, forwardUpgrade, refuse, type Upstream } from "./forward.js";
import type { NameResolver } from "./resolve.js";
import { substituteHeaders } from "./substitute.js";
import { hostOnly, resolveTarget } from "./target.js";

/** Who sent a request and where it may go, or why it may not. */
type Checked = { sandboxId: string; host: string; ip: string } | { status: number; message: string };

/** Decides, for one request, whether it may go out and how its upstream is reached. */
export type RequestRoute = (req: IncomingMessage) => Promise<{ checked: Checked; upstream: (ip: string) => Upstream }>;

/**
 * Handles HTTP requests from sandboxes: the Host is checked against the sandbox's egress policy,
 * secrets bound to that host replace their placeholders in the headers, and the request goes to
 * the host's address. Serves the sandboxes' plain HTTP (their TCP port 80 is redirected here) and,
 * through `handle`, the requests inside TLS the TLS proxy terminates.
 */
export class HttpEgressProxy {
  private server: Server | undefined;

  constructor(
    private readonly egress: EgressControl,
    private readonly resolver: NameResolver,
    private readonly secrets: SecretBroker,
    private readonly logger: Logger,
  ) {}

  /** An HTTP server (not listening) whose requests are checked and forwarded by `route`. */
  createHandler(route: RequestRoute): Server {
    const server = createServer((req, res) => {
      this.forward(req, res, route).catch((err: unknown) => {
        this.logger.warn({ err: String(err) }, "http egress proxy error");
        if (!res.headersSent) refuse(res, 502, "Burrow egress proxy error");
        else res.destroy();
      });
    });
    server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.upgrade(req, socket, head, route).catch(() => socket.destroy());
    });
    server.keepAliveTimeout = 30_000;
    return server;
  }

  async listen(): Promise<number> {
    const server = this.createHandler(async (req) => ({
      checked: await this.checkPlain(req),
      upstream: (ip) => ({ ip, port: 80 }),
    }));
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, "0.0.0.0", resolve));
    const address = server.address();
    return typeof address === "object" && address ? address.port : 0;
  }

  /** A plain HTTP request: the sandbox by its address, the destination by the Host header. */
  private async checkPlain(req: IncomingMessage): Promise<Checked> {
    const sandbox = await this.egress.sandboxAt(req.socket.remoteAddress);
    if (!sandbox) return { status: 403, message: "not a sandbox of this Burrow server" };
    const host = hostOnly(req.headers.host);
    if (!host) return { status: 400, message: "Burrow egress: the request has no Host header" };
    const target = await resolveTarget(this.egress, this.resolver, sandbox.id, host);
    if ("denied" in target) {
      this.egress.denied(sandbox.id, "http", host);
      return { status: 403, message: `Burrow egress: ${target.denied}` };
    }
    if ("failed" in target) return { status: 502, message: `Burrow egress: ${target.failed}` };
    return { sandboxId: sandbox.id, host, ip: target.ip };
  }

  /**
   * The request's headers with the secrets bound to its destination substituted. A request that
   * came in over plain HTTP (not through the TLS proxy) gets only secrets bound with `allowHttp`.
   */
  private async headersFor(req: IncomingMessage, sandboxId: string, host: string): Promise<string[]> {
    const plainHttp = !(req.socket instanceof TLSSocket);
    const lookup = await this.secrets.lookupFor(sandboxId, host, plainHttp);
    const { headers, used } = substituteHeaders(req.rawHeaders, lookup);
    if (used.length > 0) this.logger.debug({ sandboxId, host, secrets: used }, "brokered secrets");
    return headers;
  }

  private async forward(req: IncomingMessage, res: ServerResponse, route: RequestRoute): Promise<void> {
    const { checked, upstream } = await route(req);
    if ("status" in checked) return refuse(res, checked.status, checked.message);
    await forwardRequest(req, res, upstream(checked.ip), await this.headersFor(req, checked.sandboxId, checked.host));
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, route: RequestRoute): Promise<void> {
    const { checked, upstream } = await route(req);
    if ("status" in checked) {
      socket.end(
        `HTTP/1.1 ${checked.status} Refused\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${checked.message}\n`,
      );
      return;
    }
    forwardUpgrade(
      req,
      socket,
      head,
      upstream(checked.ip),
      await this.headersFor(req, checked.sandboxId, checked.host),
    );
  }

  close(): void {
    this.server?.closeAllConnections();
    this.server?.close();
  }
}
