import { randomBytes } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BurrowError, ErrorCode } from "@burrow/core";
import type { CommandRunner } from "./command-runner.js";

const ISOLATE = "BURROW-ISOLATE";
const FORWARD = "BURROW-FORWARD";
const INBOUND = "BURROW-INBOUND";
const EGRESS = "BURROW-EGRESS";
const TIMEOUT_MS = 10_000;

/** Where this server's egress proxies listen (host ports the sandbox traffic is redirected to). */
export interface EgressProxyPorts {
  dns: number;
  http: number;
  tls: number;
}

/** The IP-level part of a sandbox's egress policy (domains are enforced by the proxies). */
export interface EgressRules {
  defaultAllow: boolean;
  allowCidrs: string[];
  denyCidrs: string[];
}

/** Destinations no sandbox reaches, whatever its policy: other sandboxes, loopback, link-local (metadata), multicast. */
export function alwaysBlocked(networkPrefix: string): string[] {
  return [`${networkPrefix}.0.0/16`, "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "0.0.0.0/8", "240.0.0.0/4"];
}

/**
 * Private and internal IPv4 networks (RFC 1918, CGNAT): a sandbox reaches an address in them only
 * when its policy allows a CIDR covering it. Sandboxes of other servers on the host are never
 * reachable (BURROW-FORWARD drops anything headed for a sandbox interface).
 */
export const PRIVATE_RANGES: readonly string[] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"];

async function iptables(runner: CommandRunner, args: string[], tolerate?: RegExp): Promise<boolean> {
  const result = await runner.run(["iptables", "-w", "5", ...args], { timeoutMs: TIMEOUT_MS });
  if (result.exitCode !== 0 && !tolerate?.test(result.stderr)) {
    throw new BurrowError(ErrorCode.RuntimeFailed, `iptables ${args.join(" ")} failed: ${result.stderr.trim()}`);
  }
  return result.exitCode === 0;
}

async function ensureRule(runner: CommandRunner, table: string, chain: string, rule: string[], position?: number) {
  const present = await iptables(runner, ["-t", table, "-C", chain, ...rule], /./);
  if (!present) {
    await iptables(runner, ["-t", table, ...(position ? ["-I", chain, String(position)] : ["-A", chain]), ...rule]);
  }
}

/**
 * Makes `rule` the first rule of a filter chain. A copy further down (an older layout had it
 * second) is moved to the top in one iptables-restore transaction, so servers starting at the
 * same time never see the chain without it, nor delete each other's rules.
 */
async function ensureFirst(runner: CommandRunner, scriptDir: string, chain: string, rule: string[]): Promise<void> {
  const spec = rule.join(" ");
  const listed = await runner.run(["iptables", "-w", "5", "-S", chain], { timeoutMs: TIMEOUT_MS });
  const rules = listed.stdout.split("\n").filter((l) => l.startsWith(`-A ${chain} `));
  if (rules[0] === `-A ${chain} ${spec}`) return;
  if (rules.includes(`-A ${chain} ${spec}`)) {
    await restore(runner, scriptDir, ["*filter", `-D ${chain} ${spec}`, `-I ${chain} 1 ${spec}`]);
  } else {
    await iptables(runner, ["-I", chain, "1", ...rule]);
  }
}

/** Loads `lines` (an iptables-restore script, via a temp file in `scriptDir`) without touching chains it does not name. */
async function restore(runner: CommandRunner, scriptDir: string, lines: string[]): Promise<void> {
  const script = join(scriptDir, `iptables-${randomBytes(6).toString("hex")}.rules`);
  await writeFile(script, `${lines.join("\n")}\nCOMMIT\n`);
  const result = await runner
    .run(["iptables-restore", "--noflush", "-w", "5", script], { timeoutMs: TIMEOUT_MS })
    .finally(() => rm(script, { force: true }));
  if (result.exitCode !== 0) {
    throw new BurrowError(ErrorCode.RuntimeFailed, `iptables-restore failed: ${result.stderr.trim()}`);
  }
}

/**
 * Host firewall for sandbox interfaces (`bw*`), shared by every Burrow server on the host:
 *   INPUT   -i bw+ → BURROW-ISOLATE: replies to connections the host opened, and connections the
 *           server's own rules redirected to its egress proxies (conntrack DNAT); nothing else
 *           reaches the host (its services, the Burrow API).
 *   FORWARD -i bw+ → BURROW-FORWARD: replies; anything headed for a sandbox interface (a sandbox
 *           of this or any other server) is dropped; then BURROW-EGRESS (a jump per sandbox with a
 *           policy of its own into its chain, then per server prefix a jump into the default
 *           chain BURROW-DFLT-<prefix>), else drop. Both kinds of chain refuse private ranges
 *           (PRIVATE_RANGES) unless the sandbox's policy allows a CIDR covering the address.
 *   FORWARD -o bw+ → BURROW-INBOUND (the first rule of FORWARD): replies only; nothing outside and
 *           no other sandbox, of this server or another, opens connections into a sandbox.
 * Then this server's NAT (`networkPrefix`): DNS (udp 53), HTTP (80) and TLS (443) from its
 * sandboxes are redirected to its egress proxies; the rest is masqueraded. Idempotent.
 */
export async function ensureHostFirewall(
  runner: CommandRunner,
  networkPrefix: string,
  ports: EgressProxyPorts | undefined,
  scriptDir: string,
): Promise<void> {
  await writeFile("/proc/sys/net/ipv4/ip_forward", "1").catch(() => undefined);
  for (const chain of [ISOLATE, FORWARD, INBOUND, EGRESS]) await iptables(runner, ["-N", chain], /exists/i);
  await restore(runner, scriptDir, [
    "*filter",
    `:${ISOLATE} - [0:0]`,
    `:${FORWARD} - [0:0]`,
    `:${INBOUND} - [0:0]`,
    `-A ${ISOLATE} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`,
    `-A ${ISOLATE} -m conntrack --ctstate DNAT -j ACCEPT`,
    `-A ${ISOLATE} -j DROP`,
    `-A ${FORWARD} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`,
    `-A ${FORWARD} -o bw+ -j DROP`,
    `-A ${FORWARD} -j ${EGRESS}`,
    `-A ${FORWARD} -j DROP`,
    `-A ${INBOUND} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`,
    `-A ${INBOUND} -j DROP`,
  ]);
  // An older layout sent forwarded sandbox traffic to BURROW-ISOLATE.
  await iptables(runner, ["-D", "FORWARD", "-i", "bw+", "-j", ISOLATE], /./);
  await ensureRule(runner, "filter", "INPUT", ["-i", "bw+", "-j", ISOLATE], 1);
  await ensureFirst(runner, scriptDir, "FORWARD", ["-o", "bw+", "-j", INBOUND]);
  await ensureRule(runner, "filter", "FORWARD", ["-i", "bw+", "-j", FORWARD], 2);
  if (!ports) return;
  const tag = networkPrefix.replace(".", "-");
  const redirect = `BURROW-RDR-${tag}`;
  const snat = `BURROW-SNAT-${tag}`;
  const fallback = defaultChain(networkPrefix);
  const net = `${networkPrefix}.0.0/16`;
  // Sandboxes with the default policy (allow) have no chain of their own: after every sandbox's
  // jump (inserted at the top), BURROW-EGRESS sends this prefix's traffic here.
  await iptables(runner, ["-N", fallback], /exists/i);
  await restore(runner, scriptDir, [
    "*filter",
    `:${fallback} - [0:0]`,
    ...alwaysBlocked(networkPrefix).map((cidr) => `-A ${fallback} -d ${cidr} -j DROP`),
    ...PRIVATE_RANGES.flatMap((cidr) => rejectRules(fallback, `-d ${cidr}`)),
    `-A ${fallback} -j ACCEPT`,
  ]);
  await ensureRule(runner, "filter", EGRESS, ["-s", net, "-j", fallback]);
  for (const chain of [redirect, snat]) await iptables(runner, ["-t", "nat", "-N", chain], /exists/i);
  await restore(runner, scriptDir, [
    "*nat",
    `:${redirect} - [0:0]`,
    `:${snat} - [0:0]`,
    `-A ${redirect} -p udp --dport 53 -j REDIRECT --to-ports ${ports.dns}`,
    `-A ${redirect} -p tcp --dport 80 -j REDIRECT --to-ports ${ports.http}`,
    `-A ${redirect} -p tcp --dport 443 -j REDIRECT --to-ports ${ports.tls}`,
    `-A ${snat} ! -d ${net} -j MASQUERADE`,
  ]);
  await ensureRule(runner, "nat", "PREROUTING", ["-i", "bw+", "-s", net, "-j", redirect]);
  await ensureRule(runner, "nat", "POSTROUTING", ["-s", net, "-j", snat]);
  await forgetRedirectedFlows(runner, networkPrefix);
}

/**
 * Deletes the conntrack entries of this prefix's redirected flows (DNS, HTTP, TLS). They hold the
 * proxy ports of the previous server process: a sandbox that reuses a source port within the
 * entry's lifetime (UDP: up to 120 s) would be sent to a dead port and refused.
 */
async function forgetRedirectedFlows(runner: CommandRunner, networkPrefix: string): Promise<void> {
  for (const [protocol, port] of [
    ["udp", "53"],
    ["tcp", "80"],
    ["tcp", "443"],
  ] as const) {
    const result = await runner.run(
      ["conntrack", "-D", "-s", `${networkPrefix}.0.0`, "--mask-src", "255.255.0.0", "-p", protocol, "--dport", port],
      { timeoutMs: TIMEOUT_MS },
    );
    // Exit 1 with "0 flow entries" means there was nothing to delete.
    if (result.exitCode !== 0 && !/0 flow entries/.test(result.stderr)) {
      throw new BurrowError(
        ErrorCode.RuntimeFailed,
        `clearing stale redirected flows failed (is the conntrack package installed?): ${result.stderr.trim()}`,
      );
    }
  }
}

/** Refuses matching packets quickly (TCP reset, else ICMP port unreachable) rather than dropping them. */
function rejectRules(chain: string, match: string): string[] {
  return [
    `-A ${chain} ${match} -p tcp -j REJECT --reject-with tcp-reset`,
    `-A ${chain} ${match} -j REJECT --reject-with icmp-port-unreachable`,
  ];
}

function sandboxChain(hostInterface: string): string {
  return `BWE-${hostInterface}`;
}

/** The chain of a prefix's sandboxes that have no chain of their own (default policy). */
function defaultChain(networkPrefix: string): string {
  return `BURROW-DFLT-${networkPrefix.replace(".", "-")}`;
}

/**
 * Writes a sandbox's IP-level egress policy into its own chain (created on first use, and the
 * jump from BURROW-EGRESS added at the top), replacing what was there in one iptables-restore.
 * A sandbox needs one only for a policy other than the default; without it the prefix's default
 * chain applies (everything allowed but what no sandbox may reach and private ranges).
 */
export async function applyEgressRules(
  runner: CommandRunner,
  hostInterface: string,
  networkPrefix: string,
  rules: EgressRules,
  scriptDir: string,
): Promise<void> {
  const chain = sandboxChain(hostInterface);
  const reject = (match: string) => rejectRules(chain, match);
  await restore(runner, scriptDir, [
    "*filter",
    `:${chain} - [0:0]`,
    ...alwaysBlocked(networkPrefix).map((cidr) => `-A ${chain} -d ${cidr} -j DROP`),
    ...rules.denyCidrs.flatMap((cidr) => reject(`-d ${cidr}`)),
    ...rules.allowCidrs.map((cidr) => `-A ${chain} -d ${cidr} -j ACCEPT`),
    // Private ranges only through an allow CIDR above, whatever the default.
    ...(rules.defaultAllow
      ? [...PRIVATE_RANGES.flatMap((cidr) => reject(`-d ${cidr}`)), `-A ${chain} -j ACCEPT`]
      : reject("")),
  ]);
  // At the top: before the prefix's default chain.
  await ensureRule(runner, "filter", EGRESS, ["-i", hostInterface, "-j", chain], 1);
}

/** Removes a sandbox's egress chain and its jump. Idempotent. */
export async function removeEgressRules(runner: CommandRunner, hostInterface: string): Promise<void> {
  const chain = sandboxChain(hostInterface);
  await iptables(runner, ["-D", EGRESS, "-i", hostInterface, "-j", chain], /./);
  await iptables(runner, ["-F", chain], /./);
  await iptables(runner, ["-X", chain], /./);
}
