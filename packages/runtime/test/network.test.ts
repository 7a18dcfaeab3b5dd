import { BurrowError } from "@burrow/core";
import { describe, expect, it } from "vitest";
import type { CommandResult, CommandRunner } from "../src/command-runner.js";
import { SandboxNetwork, sandboxAddresses } from "../src/network.js";

/** Answers `ip -o -4 addr show to …` with `listing`; records every command. */
function fakeRunner(listing: string): CommandRunner & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    async run(argv: string[]): Promise<CommandResult> {
      calls.push(argv);
      const stdout = argv.includes("show") ? listing : "";
      return { exitCode: 0, stdout, stderr: "", timedOut: false };
    },
    async close() {},
  };
}

// Issue 11, item 11: a sandbox network whose /30 another host interface holds is refused.
describe("SandboxNetwork.requireSoleHolder", () => {
  const addr = sandboxAddresses("sb_aaaaaaaaaaaaaaaaaaaa", 1, "10.189");
  const line = (ifname: string) =>
    `7: ${ifname}    inet 10.189.0.5/30 scope global ${ifname}\\       valid_lft forever preferred_lft forever\n`;

  it("accepts the address when only the sandbox's own veth holds it", async () => {
    const runner = fakeRunner(line(addr.hostInterface));
    await new SandboxNetwork(runner).requireSoleHolder(addr);
    expect(runner.calls).toEqual([["ip", "-o", "-4", "addr", "show", "to", "10.189.0.5/30"]]);
  });

  it("refuses with a conflict naming the other interface, and removes its own veth and namespace", async () => {
    const runner = fakeRunner(line(addr.hostInterface) + line("bwleftover0000"));
    const err = await new SandboxNetwork(runner).requireSoleHolder(addr).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BurrowError);
    expect((err as BurrowError).code).toBe("conflict");
    expect((err as BurrowError).message).toMatch(/10\.189\.0\.5\/30 is already on host interface bwleftover0000/);
    expect(runner.calls).toContainEqual(["ip", "link", "del", addr.hostInterface]);
    expect(runner.calls).toContainEqual(["ip", "netns", "del", addr.netns]);
  });
});
