/** Checking a client's Burrow API key with the Burrow server itself. */
import { AuthenticationError, type ConnectionOptions, PermissionDeniedError, Sandbox } from "@burrow/sdk";

/** A label no sandbox carries, so the check lists nothing. */
const AUTH_CHECK_LABEL = "burrow-mcp-auth-check";

/**
 * Asks Burrow whether `connection.apiKey` is valid, with a cheap authenticated call.
 * Throws when Burrow cannot be asked (unreachable, failing).
 */
export async function verifyApiKey(connection: ConnectionOptions): Promise<"ok" | "unauthorized"> {
  try {
    await Sandbox.list({ ...connection, metadata: { [AUTH_CHECK_LABEL]: "1" } });
    return "ok";
  } catch (err) {
    if (err instanceof AuthenticationError || err instanceof PermissionDeniedError) return "unauthorized";
    throw err;
  }
}
