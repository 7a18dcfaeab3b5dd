import type { IncomingMessage } from "node:http";
import { BurrowError, ErrorCode } from "@burrow/core";
import type { ApiKey, ApiKeyStore } from "../store/api-key-store.js";

/** The API key from `Authorization: Bearer <key>` or `X-API-Key`, verified; throws 401 otherwise. */
export async function authenticate(req: IncomingMessage, keys: ApiKeyStore): Promise<ApiKey> {
  const header = req.headers.authorization;
  let key: string | undefined;
  if (header?.toLowerCase().startsWith("bearer ")) key = header.slice(7).trim();
  else {
    const x = req.headers["x-api-key"];
    key = Array.isArray(x) ? x[0] : x;
  }
  if (!key) {
    throw new BurrowError(
      ErrorCode.Unauthorized,
      "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>' (the admin key is in <data dir>/admin-key)",
    );
  }
  const found = await keys.verify(key);
  if (!found) throw new BurrowError(ErrorCode.Unauthorized, "invalid API key");
  return found;
}
