import { spawn } from "node:child_process";
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { BurrowError, ErrorCode } from "@burrow/core";

/** Where the per-prefix lock files live (tmpfs: they vanish with the locks at a reboot). */
export const DEFAULT_LOCK_DIR = "/run/burrow";
const CONFLICT_EXIT = 75;

/** A held network-prefix lock; `release` (or the end of the process) frees it. */
export interface PrefixLock {
  path: string;
  release(): void;
}

export function prefixLockPath(prefix: string, lockDir = DEFAULT_LOCK_DIR): string {
  return join(lockDir, `prefix-${prefix}.lock`);
}

/** Runs flock(1) on descriptor 3 (our open file): exit 0 locked, CONFLICT_EXIT held elsewhere. */
function flockFd(fd: number): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn("flock", ["--nonblock", "--conflict-exit-code", String(CONFLICT_EXIT), "3"], {
      stdio: ["ignore", "ignore", "pipe", fd],
    });
    let stderr = "";
    child.stderr?.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    child.on("error", (err) => resolve({ code: 127, stderr: err.message }));
    child.on("close", (code) => resolve({ code: code ?? 1, stderr }));
  });
}

/**
 * Takes the host-wide lock of a sandbox network prefix (`/run/burrow/prefix-<prefix>.lock`) for
 * the lifetime of this process. The lock is a flock on a file description only this process
 * holds (close-on-exec, so children never inherit it): the kernel frees it however the process
 * ends, SIGKILL included. Throws `conflict`, naming the holder, when another live server has it.
 */
export async function lockNetworkPrefix(
  prefix: string,
  owner: string,
  lockDir = DEFAULT_LOCK_DIR,
): Promise<PrefixLock> {
  mkdirSync(lockDir, { recursive: true, mode: 0o755 });
  const path = prefixLockPath(prefix, lockDir);
  const fd = openSync(path, "a+", 0o644);
  const { code, stderr } = await flockFd(fd);
  if (code !== 0) {
    closeSync(fd);
    if (code !== CONFLICT_EXIT) {
      throw new BurrowError(
        ErrorCode.ServiceUnavailable,
        `locking ${path} failed (is util-linux's flock installed?): ${stderr.trim()}`,
      );
    }
    let holder = "";
    try {
      holder = readFileSync(path, "utf8").trim();
    } catch {}
    throw new BurrowError(
      ErrorCode.Conflict,
      `the sandbox network prefix ${prefix} is in use by another Burrow server on this host${holder ? ` (${holder})` : ""}; ` +
        "give this server another BURROW_NETWORK_PREFIX (and a data dir of its own)",
      { details: { prefix, lock: path } },
    );
  }
  ftruncateSync(fd, 0);
  writeSync(fd, `pid ${process.pid}, data dir ${owner}\n`);
  let released = false;
  return {
    path,
    release() {
      if (released) return;
      released = true;
      closeSync(fd);
    },
  };
}
