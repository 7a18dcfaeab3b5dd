import type { SecretBinding } from "./secrets.js";

/**
 * Private and internal IPv4 networks (RFC 1918, CGNAT): a sandbox reaches an address in them only
 * when its policy allows a CIDR covering it. Sandboxes of other servers on the host are never
 * reachable (BURROW-FORWARD drops anything headed for a sandbox interface).
 */
export const PRIVATE_RANGES: readonly string[] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"];

/**
 * A sandbox's egress policy. Entries are domains (`example.com`; `*.example.com` matches its
 * subdomains, not the name itself) or IPv4 CIDRs (`203.0.113.0/24`, or one address). A deny
 * entry wins over an allow entry; what neither names gets `default`.
 *   allow everything (the default):  { default: "allow" }
 *   deny everything:                 { default: "deny" }
 *   an allow list:                   { default: "deny", allow: ["pypi.org", "*.pythonhosted.org"] }
 *   a deny list:                     { default: "allow", deny: ["*.internal.example", "10.0.0.0/8"] }
 */
export interface EgressPolicy {
  default: "allow" | "deny";
  allow: string[];
  deny: string[];
}

/** A sandbox's network settings: GET …/network answers them, PUT replaces the parts it names. */
export interface SandboxNetworkSettings {
  egress: EgressPolicy;
  /** Secrets the egress proxy substitutes, and the hosts each may be sent to. */
  secrets: SecretBinding[];
}

/** What PUT …/network accepts: a part left out stays as it is. */
export interface UpdateNetworkRequest {
  egress?: EgressPolicyInput;
  secrets?: SecretBinding[];
}

/** What create and PUT …/network accept: lists may be left out. */
export interface EgressPolicyInput {
  default?: "allow" | "deny";
  allow?: string[];
  deny?: string[];
}

export const DEFAULT_EGRESS: EgressPolicy = { default: "allow", allow: [], deny: [] };
