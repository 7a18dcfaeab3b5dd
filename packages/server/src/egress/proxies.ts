import { readFileSync } from "node:fs";
import { createSecureContext, rootCertificates } from "node:tls";
import type { Logger } from "@burrow/core";
import type { EgressProxyPorts } from "@burrow/runtime";
import type { ServerConfig } from "../config.js";
import type { SecretService } from "../secrets/secret-service.js";
import { DnsProxy } from "./dns-proxy.js";
import type { EgressCa } from "./egress-ca.js";
import type { EgressService } from "./egress-service.js";
import { HttpEgressProxy } from "./http-proxy.js";
import { dnsUpstream, NameResolver } from "./resolve.js";
import { TlsEgressProxy } from "./tls-proxy.js";

/** Starts the DNS, HTTP and TLS egress proxies on free host ports. */
export async function startEgressProxies(
  egress: EgressService,
  secrets: SecretService,
  ca: EgressCa,
  config: ServerConfig,
  logger: Logger,
): Promise<{ ports: EgressProxyPorts; close: () => void }> {
  const upstream = dnsUpstream(config.dnsUpstream);
  const resolver = new NameResolver(upstream);
  const dns = new DnsProxy(egress, upstream, logger);
  const http = new HttpEgressProxy(egress, resolver, secrets, logger);
  const extraCa = config.egressUpstreamCaFile ? [readFileSync(config.egressUpstreamCaFile, "utf8")] : [];
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
