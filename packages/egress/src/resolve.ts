import { Resolver } from "node:dns/promises";
import { readFileSync } from "node:fs";
import { isIPv4 } from "node:net";
import type { DnsUpstream } from "./dns-proxy.js";

/** BURROW_DNS_UPSTREAM ("ip" or "ip:port"), else the host's first nameserver, else 127.0.0.1. */
export function dnsUpstream(configured: string | undefined): DnsUpstream {
  if (configured) {
    const [host = "127.0.0.1", port = "53"] = configured.split(":");
    return { host, port: Number(port) };
  }
  try {
    const line = readFileSync("/etc/resolv.conf", "utf8")
      .split("\n")
      .find((l) => /^nameserver\s+\d+\.\d+\.\d+\.\d+/.test(l));
    if (line) return { host: line.trim().split(/\s+/)[1] as string, port: 53 };
  } catch {}
  return { host: "127.0.0.1", port: 53 };
}

/** Resolves names the way the sandboxes' DNS does (same upstream), IPv4 only. */
export class NameResolver {
  private readonly resolver = new Resolver({ timeout: 3000, tries: 2 });

  constructor(upstream: DnsUpstream) {
    this.resolver.setServers([`${upstream.host}:${upstream.port}`]);
  }

  async resolve(name: string): Promise<string[]> {
    if (isIPv4(name)) return [name];
    return this.resolver.resolve4(name);
  }
}
