import { isIPv4 } from "node:net";
import { networkInterfaces } from "node:os";
import { DEFAULT_EGRESS, type EgressPolicy, errorMessage, type Logger } from "@burrow/core";
import { type CidrEntry, CompiledEgress, cidrMatches, type EgressControl, ipToNumber, parseCidr } from "@burrow/egress";
import { alwaysBlocked, type Runtime } from "@burrow/runtime";
import type { Transitions } from "../services/transitions.js";
import type { EgressStore } from "../store/egress-store.js";
import type { SandboxRecord, SandboxStore } from "../store/sandbox-store.js";

export interface EgressDeps {
  store: EgressStore;
  sandboxes: SandboxStore;
  runtime: Runtime;
  transitions: Transitions;
  logger: Logger;
  networkPrefix: string;
}

/** The same denial is recorded as an event at most once per this many ms per sandbox. */
const DENIAL_EVENT_INTERVAL_MS = 10_000;

/**
 * Egress policies: stored per sandbox, written into the sandbox's firewall chain (CIDRs), and
 * answered to the DNS, HTTP and TLS proxies (names). Changes apply to the next connection.
 */
export class EgressService implements EgressControl {
  private readonly compiled = new Map<string, CompiledEgress>();
  /** Counts policy changes, so a read that a change overtook is not cached. */
  private changes = 0;
  private readonly lastDenial = new Map<string, number>();
  private readonly blocked: CidrEntry[];

  constructor(private readonly deps: EgressDeps) {
    this.blocked = alwaysBlocked(deps.networkPrefix).map(parseCidr);
  }

  async policy(sandboxId: string): Promise<EgressPolicy> {
    return (await this.deps.store.get(sandboxId)) ?? DEFAULT_EGRESS;
  }

  async compiledFor(sandboxId: string): Promise<CompiledEgress> {
    let c = this.compiled.get(sandboxId);
    if (!c) {
      const changes = this.changes;
      c = new CompiledEgress(await this.policy(sandboxId));
      if (changes === this.changes) this.compiled.set(sandboxId, c);
    }
    return c;
  }

  /** Stores a (validated) policy and applies it to the sandbox's firewall chain. */
  async set(record: SandboxRecord, policy: EgressPolicy): Promise<void> {
    this.changes++;
    await this.deps.store.set(record.id, policy);
    this.compiled.delete(record.id);
    await this.apply(record);
  }

  /** Writes the sandbox's stored policy into its firewall chain. */
  async apply(record: SandboxRecord): Promise<void> {
    const c = await this.compiledFor(record.id);
    await this.deps.runtime.setEgress(record.id, record.networkIndex, {
      defaultAllow: c.policy.default === "allow",
      allowCidrs: c.cidrs("allow"),
      denyCidrs: c.cidrs("deny"),
    });
  }

  /**
   * At start: the chain of every live sandbox with a policy of its own (chains vanish on a host
   * reboot). The others need none: the prefix's default chain covers them.
   */
  async applyAll(): Promise<void> {
    for (const record of await this.deps.sandboxes.listLive()) {
      if (record.state === "deleting" || (await this.deps.store.get(record.id)) === undefined) continue;
      await this.apply(record).catch((err: unknown) =>
        this.deps.logger.warn({ sandboxId: record.id, err: errorMessage(err) }, "applying the egress policy failed"),
      );
    }
  }

  /** Gives `toId` (a fork) the policy of `fromId`. */
  async copy(fromId: string, toId: string): Promise<void> {
    const policy = await this.deps.store.get(fromId);
    const record = await this.deps.sandboxes.get(toId);
    if (policy && record) await this.set(record, policy);
  }

  async forget(sandboxId: string): Promise<void> {
    this.changes++;
    await this.deps.store.delete(sandboxId);
    this.compiled.delete(sandboxId);
  }

  /** The sandbox whose address `ip` is (a /30 of this server's /16), if any. */
  async sandboxAt(ip: string | undefined): Promise<SandboxRecord | undefined> {
    const address = (ip ?? "").replace(/^::ffff:/, "");
    if (!isIPv4(address) || !address.startsWith(`${this.deps.networkPrefix}.`)) return undefined;
    const offset = ipToNumber(address) - ipToNumber(`${this.deps.networkPrefix}.0.0`);
    if (offset % 4 !== 2) return undefined;
    return this.deps.sandboxes.byNetworkIndex((offset - 2) / 4);
  }

  /**
   * Whether a proxy may connect to `ip` at all: never to this server's sandboxes, loopback,
   * link-local (cloud metadata), multicast, any address of this host (its services, the Burrow
   * API), or an address behind a sandbox interface (`bw*`, a sandbox of any server on the host).
   * Private ranges are the policy's to allow (CompiledEgress.allowsResolvedAddress).
   */
  reachable(ip: string): boolean {
    if (!isIPv4(ip) || this.blocked.some((e) => cidrMatches(e, ip))) return false;
    const target = ipToNumber(ip);
    for (const [name, addresses] of Object.entries(networkInterfaces())) {
      for (const a of addresses ?? []) {
        if (a.address === ip) return false;
        if (name.startsWith("bw") && a.family === "IPv4") {
          const mask = ipToNumber(a.netmask);
          if ((target & mask) >>> 0 === (ipToNumber(a.address) & mask) >>> 0) return false;
        }
      }
    }
    return true;
  }

  /** Records a denied connection as an event (rate-limited per sandbox and target). */
  denied(sandboxId: string, via: "dns" | "http" | "tls", target: string): void {
    const key = `${sandboxId} ${via} ${target}`;
    const now = Date.now();
    if ((this.lastDenial.get(key) ?? 0) > now - DENIAL_EVENT_INTERVAL_MS) return;
    this.lastDenial.set(key, now);
    if (this.lastDenial.size > 10_000) this.lastDenial.clear();
    // The proxies do not wait for the event: a denial is answered at once.
    this.deps.transitions
      .record(sandboxId, { type: "egress_denied", reason: `${via} ${target}` })
      .catch((err: unknown) => this.deps.logger.warn({ sandboxId, err: errorMessage(err) }, "egress event not stored"));
  }
}
