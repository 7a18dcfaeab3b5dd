import type { Server as HttpServer } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { connect, createServer, type Server, type Socket } from "node:net";
import { type SecureContext, TLSSocket } from "node:tls";
import type { Logger } from "@burrow/core";
import type { EgressControl, SecretBroker } from "./control.js";
import type { EgressCa } from "./egress-ca.js";
import type { HttpEgressProxy } from "./http-proxy.js";
import type { NameResolver } from "./resolve.js";
import { resolveTarget } from "./target.js";

const HELLO_TIMEOUT_MS = 5_000;
const MAX_RECORD = 16_384 + 5;

/**
 * The server name (SNI) of a TLS ClientHello at the start of `data`: a string, null when the
 * hello has none, or undefined while more bytes are needed.
 */
export function clientHelloServerName(data: Buffer): string | null | undefined {
  if (data.length < 5) return undefined;
  if (data[0] !== 0x16) return null; // not a handshake record
  const recordEnd = 5 + data.readUInt16BE(3);
  if (data.length < recordEnd) return undefined;
  const hello = data.subarray(5, recordEnd);
  if (hello[0] !== 0x01 || hello.length < 38) return null;
  let pos = 4 + 2 + 32; // handshake header, version, random
  const skip = (lengthBytes: number) => {
    if (pos + lengthBytes > hello.length) return false;
    const length = lengthBytes === 1 ? (hello[pos] ?? 0) : hello.readUInt16BE(pos);
    pos += lengthBytes + length;
    return pos <= hello.length;
  };
  if (!skip(1) || !skip(2) || !skip(1)) return null; // session id, cipher suites, compression
  if (pos + 2 > hello.length) return null;
  const extensionsEnd = Math.min(hello.length, pos + 2 + hello.readUInt16BE(pos));
  pos += 2;
  while (pos + 4 <= extensionsEnd) {
    const type = hello.readUInt16BE(pos);
    const length = hello.readUInt16BE(pos + 2);
    const body = hello.subarray(pos + 4, pos + 4 + length);
    pos += 4 + length;
    if (type !== 0 || body.length < 5) continue;
    // server_name: list length, then entries of (type 0 = host_name, length, name).
    let at = 2;
    while (at + 3 <= body.length) {
      const nameType = body[at] ?? 0;
      const nameLength = body.readUInt16BE(at + 1);
      if (nameType === 0)
        return body
          .subarray(at + 3, at + 3 + nameLength)
          .toString("ascii")
          .toLowerCase();
      at += 3 + nameLength;
    }
  }
  return null;
}

/** What the TLS proxy needs to broker secrets: the bindings, the CA, and the roots it trusts upstream. */
export interface TlsBroker {
  secrets: SecretBroker;
  ca: EgressCa;
  http: HttpEgressProxy;
  /** The CAs upstream certificates are verified against. */
  upstreamContext: SecureContext;
}

/** Idle upstream connections of brokered requests are kept this long for the next request. */
const UPSTREAM_IDLE_MS = 30_000;

/**
 * The sandboxes' TLS (their TCP port 443 is redirected here): the ClientHello's server name is
 * checked against the egress policy, then the connection is spliced, still encrypted, to that
 * name's address. A hello without a server name is refused. When the sandbox has secrets bound
 * to that name, TLS is terminated instead with a certificate from the Burrow egress CA (which
 * the sandbox trusts), the HTTP requests inside get their secrets, and each goes on over a new
 * TLS connection that verifies the real host's certificate.
 */
export class TlsEgressProxy {
  private server: Server | undefined;
  private readonly brokered = new WeakMap<object, { sandboxId: string; name: string; ip: string }>();
  private readonly brokerHandler: HttpServer;
  private readonly upstreamAgent = new HttpsAgent({ keepAlive: true, timeout: UPSTREAM_IDLE_MS, maxFreeSockets: 64 });

  constructor(
    private readonly egress: EgressControl,
    private readonly resolver: NameResolver,
    private readonly broker: TlsBroker,
    private readonly logger: Logger,
  ) {
    this.brokerHandler = broker.http.createHandler(async (req) => {
      const conn = this.brokered.get(req.socket);
      if (!conn)
        return {
          checked: { status: 500, message: "Burrow egress: unknown connection" },
          upstream: () => ({ ip: "", port: 0 }),
        };
      return {
        checked: { sandboxId: conn.sandboxId, host: conn.name, ip: conn.ip },
        upstream: (ip) => ({
          ip,
          port: 443,
          tls: { servername: conn.name, secureContext: broker.upstreamContext, agent: this.upstreamAgent },
        }),
      };
    });
  }

  async listen(): Promise<number> {
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, "0.0.0.0", resolve));
    const address = server.address();
    return typeof address === "object" && address ? address.port : 0;
  }

  private accept(socket: Socket): void {
    // Small TLS records (a request, then its body) must not wait for the peer's delayed ACK.
    socket.setNoDelay(true);
    socket.on("error", () => socket.destroy());
    // The socket holds what arrives until a data listener is added (after the lookup).
    this.egress.sandboxAt(socket.remoteAddress).then(
      (sandbox) => {
        if (sandbox) this.readHello(socket, sandbox.id);
        else socket.destroy();
      },
      () => socket.destroy(),
    );
  }

  private readHello(socket: Socket, sandboxId: string): void {
    const sandbox = { id: sandboxId };
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), HELLO_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const name = clientHelloServerName(buffered);
      if (name === undefined && buffered.length < MAX_RECORD) return;
      socket.off("data", onData);
      socket.pause();
      clearTimeout(timer);
      if (!name) {
        this.egress.denied(sandbox.id, "tls", "(no server name)");
        socket.destroy();
        return;
      }
      void this.splice(socket, sandbox.id, name, buffered);
    };
    socket.on("data", onData);
  }

  private async splice(socket: Socket, sandboxId: string, name: string, hello: Buffer): Promise<void> {
    const target = await resolveTarget(this.egress, this.resolver, sandboxId, name);
    if (!("ip" in target)) {
      if ("denied" in target) this.egress.denied(sandboxId, "tls", name);
      else this.logger.debug({ sandboxId, name, why: target.failed }, "tls egress failed");
      socket.resetAndDestroy();
      return;
    }
    if (await this.broker.secrets.brokers(sandboxId, name)) {
      await this.terminate(socket, sandboxId, name, target.ip, hello);
      return;
    }
    const up = connect(443, target.ip, () => {
      up.write(hello);
      up.pipe(socket);
      socket.pipe(up);
      socket.resume();
    });
    up.on("error", () => socket.destroy());
    socket.on("close", () => up.destroy());
  }

  /** Terminates the sandbox's TLS with a Burrow-issued certificate for `name`; requests go to the broker handler. */
  private async terminate(socket: Socket, sandboxId: string, name: string, ip: string, hello: Buffer): Promise<void> {
    let secureContext: Awaited<ReturnType<EgressCa["contextFor"]>>;
    try {
      secureContext = await this.broker.ca.contextFor(name);
    } catch (err) {
      this.logger.warn({ sandboxId, name, err: String(err) }, "issuing an egress certificate failed");
      socket.destroy();
      return;
    }
    // The hello was already read; put it back so the TLS server sees the whole handshake.
    socket.unshift(hello);
    const tls = new TLSSocket(socket, { isServer: true, secureContext, ALPNProtocols: ["http/1.1"] });
    tls.on("error", (err) => {
      this.logger.debug({ sandboxId, name, err: String(err) }, "brokered tls connection failed");
      tls.destroy();
    });
    this.brokered.set(tls, { sandboxId, name, ip });
    this.brokerHandler.emit("connection", tls);
  }

  close(): void {
    this.server?.close();
    this.brokerHandler.closeAllConnections();
    this.upstreamAgent.destroy();
  }
}
