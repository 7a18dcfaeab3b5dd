import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BurrowError, ErrorCode } from "@burrow/core";
import type { CommandRunner } from "./command-runner.js";

/** Sandboxes get /30 subnets from a /16 (default 10.200.0.0/16): host side .1, sandbox side .2. */
export const MAX_NETWORK_INDEX = 16_383;
export const DEFAULT_NETWORK_PREFIX = "10.200";
const TIMEOUT_MS = 10_000;

export interface SandboxAddresses {
  /** Network namespace name under /var/run/netns. */
  netns: string;
  /** Host end of the veth pair. */
  hostInterface: string;
  hostIp: string;
  sandboxIp: string;
}

/** The host end of a sandbox's veth pair: named after the id, so names never collide across servers. */
export function hostInterfaceOf(id: string): string {
  return `bw${id.slice(3, 16)}`;
}

/**
 * Addresses of a sandbox. `prefix` is the first two octets of the /16 this server uses; the host
 * interface name comes from the id, so two servers (or leftovers) never collide on names.
 */
export function sandboxAddresses(id: string, index: number, prefix = DEFAULT_NETWORK_PREFIX): SandboxAddresses {
  if (!Number.isInteger(index) || index < 0 || index > MAX_NETWORK_INDEX) {
    throw new BurrowError(ErrorCode.Internal, `network index ${index} out of range`);
  }
  const offset = index * 4;
  const net = `${prefix}.${offset >> 8}.`;
  const low = offset & 255;
  return {
    netns: `burrow-${id}`,
    hostInterface: hostInterfaceOf(id),
    hostIp: `${net}${low + 1}`,
    sandboxIp: `${net}${low + 2}`,
  };
}

/**
 * Per-sandbox network plumbing: a network namespace with a veth pair whose sandbox end
 * (eth0) gVisor's netstack takes over (`--network=sandbox`). The server reaches the agent at
 * the sandbox address; host firewall rules (see host-firewall.ts) stop sandboxes from reaching
 * the host and each other.
 */
/** `ss` states of a connection the host side has closed. */
export const HOST_CLOSED_STATES = ["FIN-WAIT-1", "FIN-WAIT-2", "CLOSING", "LAST-ACK"];

export class SandboxNetwork {
  constructor(private readonly runner: CommandRunner) {}

  private async ip(args: string[], what: string, tolerate?: RegExp): Promise<void> {
    const result = await this.runner.run(["ip", ...args], { timeoutMs: TIMEOUT_MS });
    if (result.exitCode !== 0 && !tolerate?.test(result.stderr)) {
      throw new BurrowError(ErrorCode.RuntimeFailed, `${what} failed: ${result.stderr.trim()}`, {
        details: { exitCode: result.exitCode },
      });
    }
  }

  /** Creates the namespace and veth pair; `dir` receives the two small `ip -batch` files. */
  async setup(addr: SandboxAddresses, dir: string): Promise<void> {
    const hostBatch = join(dir, "net-host.batch");
    const nsBatch = join(dir, "net-ns.batch");
    await writeFile(
      hostBatch,
      [
        `netns add ${addr.netns}`,
        `link add ${addr.hostInterface} type veth peer name eth0 netns ${addr.netns}`,
        `addr add ${addr.hostIp}/30 dev ${addr.hostInterface}`,
        `link set ${addr.hostInterface} up`,
        "",
      ].join("\n"),
    );
    await writeFile(
      nsBatch,
      [
        `addr add ${addr.sandboxIp}/30 dev eth0`,
        "link set eth0 up",
        "link set lo up",
        `route add default via ${addr.hostIp}`,
        "",
      ].join("\n"),
    );
    await this.ip(["-batch", hostBatch], "creating the sandbox network");
    // Sandboxes speak IPv4 only: without IPv6 on the host end, a sandbox cannot reach the host
    // (or anything routed by it) through the link-local IPv6 address the kernel would give it.
    await writeFile(`/proc/sys/net/ipv6/conf/${addr.hostInterface}/disable_ipv6`, "1").catch(() => undefined);
    await this.ip(["-n", addr.netns, "-batch", nsBatch], "configuring the sandbox network");
    await this.requireSoleHolder(addr);
  }

  /**
   * Refuses a /30 that another host interface also holds (a second server on the same network
   * prefix, or a leftover of a dead sandbox). The host routes to the interface that took the
   * address first, so this sandbox would be unreachable and its agent calls would reach the
   * other one's agent, which refuses our token. Checked after our own address is added, so of
   * two concurrent claimants the later one always sees the earlier.
   */
  async requireSoleHolder(addr: SandboxAddresses): Promise<void> {
    const result = await this.runner.run(["ip", "-o", "-4", "addr", "show", "to", `${addr.hostIp}/30`], {
      timeoutMs: TIMEOUT_MS,
    });
    const others = result.stdout
      .split("\n")
      .map((line) => line.split(/\s+/)[1]?.split("@")[0])
      .filter((name): name is string => name !== undefined && name !== "" && name !== addr.hostInterface);
    if (result.exitCode !== 0 || others.length === 0) return;
    await this.teardown(addr);
    throw new BurrowError(
      ErrorCode.Conflict,
      `the sandbox network ${addr.hostIp}/30 is already on host interface ${others.join(", ")}: another Burrow ` +
        "server uses the same network prefix, or a leftover holds it; give each server its own BURROW_NETWORK_PREFIX",
      { details: { address: `${addr.hostIp}/30`, interfaces: others } },
    );
  }

  /**
   * gVisor takes eth0's address from the kernel while it runs; before a new `runsc run` or
   * `restore` in the same namespace the address must be there again.
   */
  async readdAddress(addr: SandboxAddresses): Promise<void> {
    await this.ip(
      ["-n", addr.netns, "addr", "add", `${addr.sandboxIp}/30`, "dev", "eth0"],
      "restoring the sandbox address",
      /File exists|already assigned/i,
    );
    await this.ip(["-n", addr.netns, "route", "replace", "default", "via", addr.hostIp], "restoring the sandbox route");
  }

  async exists(addr: SandboxAddresses): Promise<boolean> {
    const result = await this.runner.run(["ip", "netns", "list"], { timeoutMs: TIMEOUT_MS });
    return result.stdout.split("\n").some((line) => line.split(" ")[0] === addr.netns);
  }

  /**
   * Waits until no TCP connection between the host and the sandbox is open any more (host side
   * closed or in TIME_WAIT). gVisor here restores a sandbox whose checkpoint was taken with an
   * established connection on eth0 with a dead network, --net-disconnect-ok or not. Answers
   * the connections still open at the deadline (`ss` lines), none when it got quiet.
   */
  async waitConnectionsClosed(addr: SandboxAddresses, timeoutMs: number): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    let open: string[] = [];
    while (Date.now() < deadline) {
      const result = await this.runner.run(["ss", "-Htn", "state", "connected", "dst", addr.sandboxIp], {
        timeoutMs: TIMEOUT_MS,
      });
      open = result.stdout.split("\n").filter((l) => l.trim() !== "" && !/TIME-WAIT/.test(l));
      if (result.exitCode === 0 && open.length === 0) return [];
      await new Promise((r) => setTimeout(r, 5));
    }
    return open.length > 0 ? open : ["(ss failed)"];
  }

  /**
   * Aborts the host's connections to the sandbox that the host has already closed (FIN-WAIT-1/2,
   * CLOSING, LAST-ACK): the kernel drops them and sends the sandbox a reset, which ends its side.
   * For a sandbox whose side never closes (or whose netstack never acknowledged the close).
   */
  async killHostClosedConnections(addr: SandboxAddresses): Promise<void> {
    const states = HOST_CLOSED_STATES.flatMap((s) => ["state", s.toLowerCase()]);
    await this.runner.run(["ss", "-K", "-Htn", ...states, "dst", addr.sandboxIp], { timeoutMs: TIMEOUT_MS });
  }

  /** Removes the namespace and veth pair. Idempotent. */
  async teardown(addr: SandboxAddresses): Promise<void> {
    await this.ip(["link", "del", addr.hostInterface], "removing the veth pair", /Cannot find|does not exist/i);
    await this.ip(["netns", "del", addr.netns], "removing the network namespace", /No such file|not found/i);
  }

  /** Wraps a runsc argv so it runs where gVisor can take over the namespace's interfaces. */
  static inNamespace(addr: SandboxAddresses, argv: string[]): string[] {
    // runsc refuses to set up networking when /proc/sys/net/core is visible in the joined
    // namespace (google/gvisor#10704, this kernel shows it in every netns). Mounting a tmpfs
    // over it in a private mount namespace, from inside the sandbox's netns, hides it.
    return [
      "nsenter",
      `--net=/var/run/netns/${addr.netns}`,
      "unshare",
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      'mount -t tmpfs none /proc/sys/net/core && exec "$@"',
      "sh",
      ...argv,
    ];
  }
}
