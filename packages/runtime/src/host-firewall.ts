import { BurrowError, ErrorCode } from "@burrow/core";
import type { CommandRunner } from "./command-runner.js";

const CHAIN = "BURROW-ISOLATE";
const TIMEOUT_MS = 10_000;

/**
 * Host firewall for sandbox interfaces (`bw*`): a sandbox may answer connections the host
 * opened (the server talking to its agent) but cannot open connections to the host itself
 * (its services, the Burrow API) or be forwarded anywhere, including to other sandboxes.
 * Idempotent: the chain is rebuilt and the jumps added once.
 */
export async function ensureHostFirewall(runner: CommandRunner): Promise<void> {
  const run = async (args: string[], tolerate?: RegExp) => {
    const result = await runner.run(["iptables", "-w", "5", ...args], { timeoutMs: TIMEOUT_MS });
    if (result.exitCode !== 0 && !tolerate?.test(result.stderr)) {
      throw new BurrowError(ErrorCode.RuntimeFailed, `iptables ${args.join(" ")} failed: ${result.stderr.trim()}`);
    }
    return result.exitCode === 0;
  };
  await run(["-N", CHAIN], /exists/i);
  await run(["-F", CHAIN]);
  await run(["-A", CHAIN, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"]);
  await run(["-A", CHAIN, "-j", "DROP"]);
  for (const builtin of ["INPUT", "FORWARD"]) {
    const present = await run(["-C", builtin, "-i", "bw+", "-j", CHAIN], /./);
    if (!present) await run(["-I", builtin, "1", "-i", "bw+", "-j", CHAIN]);
  }
}
