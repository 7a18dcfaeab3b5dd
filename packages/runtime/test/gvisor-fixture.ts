import { mkdtempSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "@burrow/core";
import { GvisorRuntime } from "../src/gvisor-runtime.js";
import { ShimRunner } from "../src/shim-runner.js";

export const agentBin = join(import.meta.dirname, "..", "..", "agent", "bin");

/** The built base template's rootfs, the lower layer of the tests' sandboxes. */
export const templateRootfs = join(
  process.env.BURROW_TEMPLATES_DIR ?? join(homedir(), ".burrow", "templates"),
  "base",
  "rootfs",
);

/**
 * A real gVisor runtime over a new temp dir (`/tmp/<tmpPrefix>XXXXXX`) on its own /16
 * (`networkPrefix`, one per test file); the caller destroys its sandboxes, closes it and removes
 * the dir.
 */
export function testRuntime(tmpPrefix: string, networkPrefix: string): { dir: string; runtime: GvisorRuntime } {
  const dir = mkdtempSync(join("/tmp", tmpPrefix));
  const runtime = new GvisorRuntime({
    sandboxesDir: join(dir, "sandboxes"),
    runscStateDir: join(dir, "runsc"),
    agentBinaryPath: join(agentBin, "burrow-agent"),
    runner: new ShimRunner(join(agentBin, "burrow-shim")),
    logger: silentLogger,
    networkPrefix,
  });
  return { dir, runtime };
}
