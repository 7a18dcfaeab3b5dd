import { chmodSync, closeSync, lstatSync, mkdirSync, openSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "@burrow/core";

/**
 * Makes the data dir private to the server's user: the directory and the directories directly
 * in it 0700, and the regular files directly in it 0600 (burrow.db and its -wal/-shm hold agent
 * tokens and sandbox env values; keys sit beside them). A data dir made by an older release with
 * looser modes is tightened at start, and the change is logged. Deeper levels keep their modes:
 * nothing under a 0700 directory is reachable by other users, and a sandbox's upper dir sets the
 * mode of its root directory.
 */
export function secureDataDir(dataDir: string, logger: Logger): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const tightened: string[] = [];
  const tighten = (path: string, mode: number) => {
    const st = lstatSync(path);
    if ((st.mode & 0o777) !== mode) {
      chmodSync(path, mode);
      tightened.push(path);
    }
  };
  tighten(dataDir, 0o700);
  for (const entry of readdirSync(dataDir, { withFileTypes: true })) {
    if (entry.isFile()) tighten(join(dataDir, entry.name), 0o600);
    else if (entry.isDirectory()) tighten(join(dataDir, entry.name), 0o700);
  }
  if (tightened.length > 0)
    logger.info({ paths: tightened }, "tightened data dir permissions (0700 directories, 0600 files)");
}

/** Creates `path` empty with mode 0600 when missing, so SQLite (and its -wal/-shm, which copy the database's mode) never makes it world-readable. */
export function createPrivateFile(path: string): void {
  closeSync(openSync(path, "a", 0o600));
  chmodSync(path, 0o600);
}
