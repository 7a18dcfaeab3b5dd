import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "@burrow/core";
import { lockNetworkPrefix, type PrefixLock } from "@burrow/runtime";
import type { ServerConfig } from "./config.js";

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
  if (stored === undefined) writeFileSync(path, `${prefix}\n`);
  return held ? { prefix, lock: held } : { prefix };
}
