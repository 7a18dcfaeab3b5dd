// Helpers the suites share for loading sandboxes and waiting on them.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { round, sleep } from "./stats.mjs";

/**
 * Python that holds N MiB with every page written (argv[2] "random": incompressible bytes),
 * writes its pid to /tmp/alloc-ready, then sleeps.
 */
export const ALLOC_PY = `import os, sys, time
n = int(sys.argv[1]) * 1024 * 1024
b = bytearray(n)
if len(sys.argv) > 2 and sys.argv[2] == "random":
    for off in range(0, n, 1 << 20):
        b[off:off + (1 << 20)] = os.urandom(1 << 20)
else:
    for i in range(0, n, 4096):
        b[i] = 1
with open("/tmp/alloc-ready.tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename("/tmp/alloc-ready.tmp", "/tmp/alloc-ready")
while True:
    time.sleep(3600)
`;

/** Total size of the files directly in `dir`, in MB. */
export function dirSizeMb(dir) {
  let total = 0;
  for (const name of readdirSync(dir)) total += statSync(join(dir, name)).size;
  return round(total / 1024 / 1024, 1);
}

/** Polls `fn` until it returns true, or throws after `timeoutMs`. */
export async function until(what, fn, timeoutMs = 60_000, everyMs = 20) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Times `fn`, retrying when the server refuses with a conflict (a checkpoint while the host
 * still holds connections to the sandbox); each retry is counted in `stats.conflicts`.
 */
export async function timedRetryingConflicts(fn, stats, attempts = 20) {
  for (let attempt = 0; ; attempt++) {
    const t0 = performance.now();
    try {
      const value = await fn();
      return { ms: performance.now() - t0, value };
    } catch (err) {
      if (err?.name !== "ConflictError" || attempt >= attempts) throw err;
      stats.conflicts++;
      await sleep(1000);
    }
  }
}
