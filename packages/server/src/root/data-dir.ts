import {
  chmodSync,
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { BurrowError, ErrorCode, type Logger } from "@burrow/core";
import {
  type CommandRunner,
  GvisorRuntime,
  LoopVolumeDisks,
  lockNetworkPrefix,
  type PrefixLock,
  ShimRunner,
  SpawnRunner,
} from "@burrow/runtime";
import type { ServerConfig } from "../config.js";
import type { ApiKeyStore } from "../store/api-key-store.js";

/**
 * Creates the data dir and its sandboxes dir, and makes the data dir private to the server's
 * user: the directory and the directories directly in it 0700, and the regular files directly in
 * it 0600 (burrow.db and its -wal/-shm hold agent tokens and sandbox env values; keys sit beside
 * them). A data dir made by an older release with looser modes is tightened, and the change is
 * logged. Deeper levels keep their modes: nothing under a 0700 directory is reachable by other
 * users, and a sandbox's upper dir sets the mode of its root directory.
 */
export function prepareDataDir(config: ServerConfig, logger: Logger): void {
  const dataDir = config.dataDir;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  mkdirSync(join(dataDir, "sandboxes"), { recursive: true, mode: 0o700 });
  const tightened: string[] = [];
  const tighten = (path: string, mode: number) => {
    if ((lstatSync(path).mode & 0o777) !== mode) {
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

/** Creates `path` empty with mode 0600 when missing, so SQLite (and its -wal/-shm, which copy the database's mode) never makes it readable by others. */
export function createPrivateFile(path: string): void {
  closeSync(openSync(path, "a", 0o600));
  chmodSync(path, 0o600);
}

/** Creates the admin key on first start, writing it to `<data>/admin-key` (0600). */
export async function bootstrapAdminKey(keys: ApiKeyStore, dataDir: string, logger: Logger): Promise<string> {
  const path = join(dataDir, "admin-key");
  if ((await keys.count()) === 0 || !existsSync(path)) {
    const { key } = await keys.create("admin", new Date().toISOString());
    writeFileSync(path, `${key}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
    logger.info({ path }, "created admin API key");
  }
  return path;
}

/**
 * The /16 that sandbox addresses come from is fixed when a data dir is first used: existing
 * sandboxes keep their addresses across restarts even if BURROW_NETWORK_PREFIX changes. With a
 * real runtime the prefix is locked host-wide first (refused when another live server holds it),
 * and only then recorded.
 */
export async function claimNetworkPrefix(
  config: ServerConfig,
  logger: Logger,
  lock: boolean,
): Promise<{ prefix: string; lock?: PrefixLock }> {
  const path = join(config.dataDir, "network-prefix");
  const stored = existsSync(path) ? readFileSync(path, "utf8").trim() : undefined;
  if (stored !== undefined && stored !== config.networkPrefix) {
    logger.warn(
      { stored, configured: config.networkPrefix },
      "BURROW_NETWORK_PREFIX differs from the prefix this data dir was created with; keeping the stored one",
    );
  }
  const prefix = stored ?? config.networkPrefix;
  const held = lock ? await lockNetworkPrefix(prefix, config.dataDir) : undefined;
  if (stored === undefined) writeFileSync(path, `${prefix}\n`, { mode: 0o600 });
  return held ? { prefix, lock: held } : { prefix };
}

/** The gVisor runtime on this host, after checking the agent binary is built. */
/** Volumes as loop-mounted ext4 images under `<data>/volumes`. */
export function loopVolumeDisks(config: ServerConfig): LoopVolumeDisks {
  return new LoopVolumeDisks(join(config.dataDir, "volumes"), new SpawnRunner());
}

export function gvisorRuntime(config: ServerConfig, logger: Logger, networkPrefix: string): GvisorRuntime {
  if (!existsSync(config.agentBinaryPath)) {
    throw new BurrowError(
      ErrorCode.ServiceUnavailable,
      `the sandbox agent binary is missing at ${config.agentBinaryPath}; run 'npm start' (or 'npm run build') to build it`,
    );
  }
  const runner: CommandRunner = existsSync(config.shimPath) ? new ShimRunner(config.shimPath) : new SpawnRunner();
  return new GvisorRuntime({
    sandboxesDir: join(config.dataDir, "sandboxes"),
    runscStateDir: join(config.dataDir, "runsc"),
    agentBinaryPath: config.agentBinaryPath,
    runner,
    logger,
    runscPath: config.runscPath,
    networkPrefix,
    checkpointCompression: config.checkpointCompression,
  });
}
