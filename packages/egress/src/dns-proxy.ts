import { createSocket, type Socket } from "node:dgram";
import type { Logger } from "@burrow/core";
import type { EgressControl } from "./control.js";

const UPSTREAM_TIMEOUT_MS = 4_000;

export interface DnsUpstream {
  host: string;
  port: number;
}

/** The question name of a DNS query, or undefined when the packet is not one we can read. */
export function questionName(packet: Buffer): string | undefined {
  if (packet.length < 12 || packet.readUInt16BE(4) < 1) return undefined;
  const labels: string[] = [];
  let pos = 12;
  while (pos < packet.length) {
    const length = packet[pos] ?? 0;
    if (length === 0) return labels.join(".").toLowerCase();
    if (length > 63 || pos + 1 + length > packet.length) return undefined;
    labels.push(packet.subarray(pos + 1, pos + 1 + length).toString("latin1"));
    pos += 1 + length;
  }
  return undefined;
}

/** A reply to `query` with no answers and `rcode` (3 = NXDOMAIN). */
export function emptyReply(query: Buffer, rcode: number): Buffer {
  let end = 12;
  while (end < query.length && query[end] !== 0) end += (query[end] ?? 0) + 1;
  const questionEnd = Math.min(query.length, end + 5);
  const reply = Buffer.from(query.subarray(0, questionEnd));
  const recursionDesired = (query[2] ?? 0) & 0x01;
  reply[2] = 0x80 | recursionDesired; // QR=1, opcode 0
  reply[3] = 0x80 | (rcode & 0x0f); // RA=1
  reply.writeUInt16BE(1, 4);
  reply.writeUInt16BE(0, 6);
  reply.writeUInt16BE(0, 8);
  reply.writeUInt16BE(0, 10);
  return reply;
}

/**
 * The sandboxes' DNS server (their UDP port 53 is redirected here): a question for a name the
 * sandbox's egress policy denies gets NXDOMAIN at once; the others are relayed to the upstream
 * resolver.
 */
export class DnsProxy {
  private socket: Socket | undefined;

  constructor(
    private readonly egress: EgressControl,
    private readonly upstream: DnsUpstream,
    private readonly logger: Logger,
  ) {}

  async listen(): Promise<number> {
    const socket = createSocket("udp4");
    this.socket = socket;
    socket.on("message", (msg, rinfo) => {
      this.answer(msg, rinfo.address, rinfo.port).catch((err: unknown) =>
        this.logger.warn({ err: String(err) }, "dns question not answered"),
      );
    });
    socket.on("error", (err) => this.logger.warn({ err: err.message }, "dns proxy socket error"));
    await new Promise<void>((resolve) => socket.bind(0, "0.0.0.0", resolve));
    return socket.address().port;
  }

  private async answer(query: Buffer, address: string, port: number): Promise<void> {
    const sandbox = await this.egress.sandboxAt(address);
    const name = questionName(query);
    this.logger.debug({ address, port, name, sandboxId: sandbox?.id }, "dns question");
    if (!sandbox || name === undefined) return;
    if (!(await this.egress.compiledFor(sandbox.id)).allowsName(name)) {
      this.egress.denied(sandbox.id, "dns", name);
      this.socket?.send(emptyReply(query, 3), port, address);
      return;
    }
    const relay = createSocket("udp4");
    const timer = setTimeout(() => {
      this.logger.warn({ name, sandboxId: sandbox.id }, "dns upstream did not answer");
      relay.close();
    }, UPSTREAM_TIMEOUT_MS);
    relay.on("message", (reply) => {
      clearTimeout(timer);
      relay.close();
      this.logger.debug({ address, port, bytes: reply.length }, "dns answer");
      this.socket?.send(reply, port, address, (err) => {
        if (err) this.logger.warn({ err: err.message }, "dns answer not sent");
      });
    });
    relay.on("error", () => {
      clearTimeout(timer);
      relay.close();
      this.socket?.send(emptyReply(query, 2), port, address);
    });
    relay.send(query, this.upstream.port, this.upstream.host);
  }

  close(): void {
    this.socket?.close();
  }
}
