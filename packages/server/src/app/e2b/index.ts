import { chmodSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "@burrow/core";
import type { ApiKeyStore } from "../../store/api-key-store.js";

export { registerE2bRoutes } from "./routes.js";
export { SandboxPlane } from "./sandbox-plane.js";
export { E2bService } from "./service.js";

/**
 * Creates an `e2b_<hex>` API key on first start, in `<data>/e2b-api-key` (0600), for the e2b
 * SDK's `E2B_API_KEY`. It is an ordinary key: it works on Burrow's own API as well.
 */
export async function bootstrapE2bKey(keys: ApiKeyStore, dataDir: string, logger: Logger): Promise<string> {
  const path = join(dataDir, "e2b-api-key");
  if (!existsSync(path)) {
    const { key } = await keys.create("e2b", new Date().toISOString(), "e2b");
    writeFileSync(path, `${key}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
    logger.info({ path }, "created E2B-compatible API key");
  }
  return path;
}
