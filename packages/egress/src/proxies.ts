import { readFileSync } from "node:fs";
import { createSecureContext, rootCertificates } from "node:tls";
import type { Logger } from "@burrow/core";
import type { EgressControl, EgressProxyPorts, SecretBroker } from "./control.js";
import { DnsProxy } from "./dns-proxy.js";
import type { EgressCa } from "./egress-ca.js";
import { HttpEgressProxy } from "./http-proxy.js";
import { dnsUpstream, NameResolver } from "./resolve.js";
import { TlsEgressProxy } from "./tls-proxy.js";

export interface EgressProxyOptions {
  /** DNS server the proxy asks ("ip" or "ip:port"); default: the host's first nameserver. */
  dnsUpstream?: string | undefined;
  /** Extra CA certificates (PEM file) trusted for upstream HTTPS, besides Node's roots. */
  upstreamCaFile?: string | undefined;
  /** More CA certificates (PEM) trusted for upstream HTTPS: those the host's administrator added. */
  upstreamCaPems?: string[] | undefined;
}

/** Starts the DNS, HTTP and TLS egress proxies on free host ports. */
export async function startEgressProxies(
  egress: EgressControl,
  secrets: SecretBroker,
  ca: EgressCa,
  options: EgressProxyOptions,
  logger: Logger,
): Promise<{ ports: EgressProxyPorts; close: () => void }> {
  const upstream = dnsUpstream(options.dnsUpstream);
  const resolver = new NameResolver(upstream);
  const dns = new DnsProxy(egress, upstream, logger);
  const http = new HttpEgressProxy(egress, resolver, secrets, logger);
  const extraCa = [
    ...(options.upstreamCaFile ? [readFileSync(options.upstreamCaFile, "utf8")] : []),
    ...(options.upstreamCaPems ?? []),
  ];
  const upstreamContext = createSecureContext({ ca: [...rootCertificates, ...extraCa] });
  const tls = new TlsEgressProxy(egress, resolver, { secrets, ca, http, upstreamContext }, logger);
  const ports = { dns: await dns.listen(), http: await http.listen(), tls: await tls.listen() };
  logger.info({ ...ports, upstream: `${upstream.host}:${upstream.port}` }, "egress proxies listening");
  return {
    ports,
    close() {
      dns.close();
      http.close();
      tls.close();
    },
  };
}
