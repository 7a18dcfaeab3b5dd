import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { CommandResult, CommandRunner, RunCommandOptions } from "../src/command-runner.js";
import { applyEgressRules, ensureHostFirewall, PRIVATE_RANGES } from "../src/host-firewall.js";
import { SpawnRunner } from "../src/spawn-runner.js";

/** Runs every command inside a network namespace (its own iptables tables). */
class NamespaceRunner implements CommandRunner {
  private readonly inner = new SpawnRunner();
  constructor(private readonly netns: string) {}
  run(argv: string[], options: RunCommandOptions): Promise<CommandResult> {
    return this.inner.run(["ip", "netns", "exec", this.netns, ...argv], options);
  }
  async close(): Promise<void> {}
}

/** Records the rules iptables-restore is given; every other command succeeds. */
class RecordingRunner implements CommandRunner {
  readonly rules: string[] = [];
  async run(argv: string[], _options: RunCommandOptions): Promise<CommandResult> {
    if (argv[0] === "iptables-restore") {
      this.rules.push(
        ...readFileSync(argv.at(-1) as string, "utf8")
          .split("\n")
          .filter((l) => l.startsWith("-A")),
      );
    }
    return { exitCode: 0, stdout: "", stderr: "", timedOut: false };
  }
  async close(): Promise<void> {}
}

// The rules, as written: what a sandbox may reach before any policy of its own applies.
describe("host firewall rules", () => {
  const dir = mkdtempSync(join(tmpdir(), "bfw-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("drops anything forwarded to a sandbox interface before any egress chain can accept it", async () => {
    const runner = new RecordingRunner();
    await ensureHostFirewall(runner, "10.231", { dns: 1, http: 2, tls: 3 }, dir);
    const forward = runner.rules.filter((r) => r.startsWith("-A BURROW-FORWARD "));
    expect(forward).toEqual([
      "-A BURROW-FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
      "-A BURROW-FORWARD -o bw+ -j DROP",
      "-A BURROW-FORWARD -j BURROW-EGRESS",
      "-A BURROW-FORWARD -j DROP",
    ]);
    const dflt = runner.rules.filter((r) => r.startsWith("-A BURROW-DFLT-10-231 "));
    for (const cidr of PRIVATE_RANGES) {
      expect(dflt.indexOf(`-A BURROW-DFLT-10-231 -d ${cidr} -p tcp -j REJECT --reject-with tcp-reset`)).toBeLessThan(
        dflt.indexOf("-A BURROW-DFLT-10-231 -j ACCEPT"),
      );
    }
    expect(dflt.at(-1)).toBe("-A BURROW-DFLT-10-231 -j ACCEPT");
  });

  it("lets a sandbox's allow CIDR open a private range, refused otherwise even with default allow", async () => {
    const runner = new RecordingRunner();
    await applyEgressRules(
      runner,
      "bwx",
      "10.231",
      { defaultAllow: true, allowCidrs: ["10.77.0.0/24"], denyCidrs: [] },
      dir,
    );
    const rules = runner.rules;
    const allow = rules.indexOf("-A BWE-bwx -d 10.77.0.0/24 -j ACCEPT");
    const privateReject = rules.indexOf("-A BWE-bwx -d 10.0.0.0/8 -p tcp -j REJECT --reject-with tcp-reset");
    expect(allow).toBeGreaterThan(rules.indexOf("-A BWE-bwx -d 10.231.0.0/16 -j DROP"));
    expect(allow).toBeLessThan(privateReject);
    expect(privateReject).toBeLessThan(rules.indexOf("-A BWE-bwx -j ACCEPT"));
  });

  it.runIf(process.getuid?.() === 0)(
    "moves the inbound jump of the older layout to the top of FORWARD (real iptables, private netns)",
    async () => {
      const netns = `bfw-${randomBytes(3).toString("hex")}`;
      const ipt = (...args: string[]) =>
        execFileSync("ip", ["netns", "exec", netns, "iptables", ...args], { encoding: "utf8" });
      execFileSync("ip", ["netns", "add", netns]);
      try {
        // The older layout: the egress jump first, the inbound jump second.
        for (const chain of ["BURROW-FORWARD", "BURROW-INBOUND"]) ipt("-N", chain);
        ipt("-A", "FORWARD", "-i", "bw+", "-j", "BURROW-FORWARD");
        ipt("-A", "FORWARD", "-o", "bw+", "-j", "BURROW-INBOUND");
        const runner = new NamespaceRunner(netns);
        await ensureHostFirewall(runner, "10.231", undefined, dir);
        await ensureHostFirewall(runner, "10.231", undefined, dir);
        expect(ipt("-S", "FORWARD").trim().split("\n")).toEqual([
          "-P FORWARD ACCEPT",
          "-A FORWARD -o bw+ -j BURROW-INBOUND",
          "-A FORWARD -i bw+ -j BURROW-FORWARD",
        ]);
      } finally {
        execFileSync("ip", ["netns", "del", netns]);
      }
    },
  );
});
