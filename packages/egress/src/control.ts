import type { CompiledEgress } from "./policy.js";
import type { SecretLookup } from "./substitute.js";

/**
 * What the egress proxies ask the control plane, per connection. The server implements it from
 * its sandbox rows and stored policies; the proxies hold no state of their own about sandboxes.
 */
export interface EgressControl {
  /** The sandbox that owns a source address, or undefined when none does (the proxies refuse). */
  sandboxAt(ip: string | undefined): Promise<{ id: string } | undefined>;
  /** The sandbox's egress policy, compiled for matching. */
  compiledFor(sandboxId: string): Promise<CompiledEgress>;
  /** Whether any sandbox may reach `ip` at all (not this host, not another sandbox, not link-local). */
  reachable(ip: string): boolean;
  /** Records a refusal (rate-limited into the sandbox's events by the implementation). */
  denied(sandboxId: string, via: "dns" | "http" | "tls", target: string): void;
}

/** Which secrets the proxies may put into a sandbox's requests to a host. */
export interface SecretBroker {
  /** Whether any secret of the sandbox is bound to `host` (TLS to it is then terminated). */
  brokers(sandboxId: string, host: string): Promise<boolean>;
  /** The values the sandbox's request to `host` may carry; `plainHttp` for unencrypted requests. */
  lookupFor(sandboxId: string, host: string, plainHttp?: boolean): Promise<SecretLookup>;
}

/** Where the proxies listen on the host (the NAT rules redirect sandbox traffic there). */
export interface EgressProxyPorts {
  dns: number;
  http: number;
  tls: number;
}
