import { isIPv4 } from "node:net";
import { BurrowError, type EgressPolicy, type EgressPolicyInput, ErrorCode } from "@burrow/core";
import { PRIVATE_RANGES } from "@burrow/runtime";

/** An egress entry, parsed: a domain pattern or an IPv4 network. */
export type EgressEntry =
  | { kind: "domain"; name: string; wildcard: boolean }
  | { kind: "cidr"; text: string; network: number; bits: number };

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
export const MAX_EGRESS_ENTRIES = 256;

export function ipToNumber(ip: string): number {
  return ip.split(".").reduce((n, octet) => n * 256 + Number(octet), 0);
}

function maskOf(bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

/** Parses one entry; throws validation_failed naming it when it is neither a domain nor a CIDR. */
export function parseEgressEntry(raw: string, field: string): EgressEntry {
  const text = raw.trim().toLowerCase();
  const fail = (why: string) =>
    new BurrowError(ErrorCode.ValidationFailed, `${field}: '${raw}' is not a valid entry: ${why}`, {
      details: { field, entry: raw },
    });
  if (/^[\d./]+$/.test(text)) {
    const [ip = "", bitsText] = text.split("/");
    const bits = bitsText === undefined ? 32 : Number(bitsText);
    if (!isIPv4(ip)) throw fail("not an IPv4 address");
    if (!Number.isInteger(bits) || bits < 0 || bits > 32 || (bitsText !== undefined && !/^\d{1,2}$/.test(bitsText))) {
      throw fail("the prefix length must be 0–32");
    }
    const network = (ipToNumber(ip) & maskOf(bits)) >>> 0;
    return { kind: "cidr", text: `${ip}/${bits}`, network, bits };
  }
  const wildcard = text.startsWith("*.");
  const name = wildcard ? text.slice(2) : text.replace(/\.$/, "");
  if (name.length === 0 || name.length > 253) throw fail("a domain has 1–253 characters");
  if (!name.split(".").every((label) => LABEL.test(label))) {
    throw fail("a domain is dot-separated labels of letters, digits and '-' (optionally starting with '*.')");
  }
  return { kind: "domain", name, wildcard };
}

/** Validates and normalises a policy from the API. */
export function parseEgressPolicy(input: EgressPolicyInput, field = "network.egress"): EgressPolicy {
  const policy: EgressPolicy = { default: input.default ?? "allow", allow: [], deny: [] };
  for (const list of ["allow", "deny"] as const) {
    const entries = input[list] ?? [];
    if (entries.length > MAX_EGRESS_ENTRIES) {
      throw new BurrowError(ErrorCode.ValidationFailed, `${field}.${list}: at most ${MAX_EGRESS_ENTRIES} entries`);
    }
    for (const [i, raw] of entries.entries()) {
      const entry = parseEgressEntry(raw, `${field}.${list}[${i}]`);
      policy[list].push(entry.kind === "cidr" ? entry.text : `${entry.wildcard ? "*." : ""}${entry.name}`);
    }
  }
  return policy;
}

export function domainMatches(entry: Extract<EgressEntry, { kind: "domain" }>, host: string): boolean {
  return entry.wildcard ? host.endsWith(`.${entry.name}`) : host === entry.name;
}

export type CidrEntry = Extract<EgressEntry, { kind: "cidr" }>;

/** Parses "a.b.c.d/n" (or a bare address) into a CIDR entry. */
export function parseCidr(text: string): CidrEntry {
  const entry = parseEgressEntry(text, "cidr");
  if (entry.kind !== "cidr") throw new BurrowError(ErrorCode.Internal, `${text} is not a CIDR`);
  return entry;
}

export function cidrMatches(entry: CidrEntry, ip: string): boolean {
  return (ipToNumber(ip) & maskOf(entry.bits)) >>> 0 === entry.network;
}

const PRIVATE = PRIVATE_RANGES.map(parseCidr);

/** Whether `ip` is in a private or internal range (RFC 1918, CGNAT). */
export function isPrivateAddress(ip: string): boolean {
  return PRIVATE.some((e) => cidrMatches(e, ip));
}

/** A policy compiled for matching names and addresses. */
export class CompiledEgress {
  private readonly allow: EgressEntry[];
  private readonly deny: EgressEntry[];

  constructor(readonly policy: EgressPolicy) {
    this.allow = policy.allow.map((e) => parseEgressEntry(e, "allow"));
    this.deny = policy.deny.map((e) => parseEgressEntry(e, "deny"));
  }

  private decide(match: (e: EgressEntry) => boolean): boolean {
    if (this.deny.some(match)) return false;
    if (this.allow.some(match)) return true;
    return this.policy.default === "allow";
  }

  /** A name (DNS question, HTTP Host, TLS SNI); an IP literal is checked as an address. */
  allowsName(name: string): boolean {
    const host = name.toLowerCase().replace(/\.$/, "");
    if (isIPv4(host)) return this.allowsAddress(host);
    return this.decide((e) => e.kind === "domain" && domainMatches(e, host));
  }

  /**
   * An address a name resolved to: denied by a deny CIDR; for an allow-list policy, an allowed
   * name's addresses are fine (the name was the check), so only deny CIDRs apply here — except
   * that a private address needs an allow CIDR covering it, as at the firewall.
   */
  allowsResolvedAddress(ip: string): boolean {
    if (this.deny.some((e) => e.kind === "cidr" && cidrMatches(e, ip))) return false;
    return !isPrivateAddress(ip) || this.allowsPrivate(ip);
  }

  /** A bare address (no name): CIDR entries and the default; private addresses only by an allow CIDR. */
  allowsAddress(ip: string): boolean {
    if (isPrivateAddress(ip)) return this.allowsResolvedAddress(ip);
    return this.decide((e) => e.kind === "cidr" && cidrMatches(e, ip));
  }

  private allowsPrivate(ip: string): boolean {
    return this.allow.some((e) => e.kind === "cidr" && cidrMatches(e, ip));
  }

  cidrs(list: "allow" | "deny"): string[] {
    return (list === "allow" ? this.allow : this.deny).flatMap((e) => (e.kind === "cidr" ? [e.text] : []));
  }
}
