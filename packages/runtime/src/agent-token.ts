import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { open, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { IN_SANDBOX } from "./oci-spec.js";

/** The token file's name in the sandbox's run dir (host side of IN_SANDBOX.runDir). */
export const TOKEN_FILE_NAME = "token";

/**
 * Leaves the agent's access token in the sandbox's run dir, root-only (0600), where the agent
 * reads and removes it: at start (`--token-file`), and whenever a request's token does not match
 * (how the server takes back an agent whose token was changed from inside). The run dir is
 * writable by root in the sandbox, so nothing in it is followed: the token goes to a fresh file
 * (O_EXCL | O_NOFOLLOW) that is then renamed over whatever has the name.
 */
export async function writeAgentToken(runDir: string, token: string): Promise<void> {
  const temp = join(runDir, `.token-${randomBytes(8).toString("hex")}`);
  const fh = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    await fh.writeFile(token);
  } finally {
    await fh.close();
  }
  try {
    await rename(temp, join(runDir, TOKEN_FILE_NAME));
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

interface BundleProcess {
  args?: string[];
  env?: string[];
}

/**
 * Brings the config.json of a sandbox created by an older release up to date before the agent
 * starts afresh on it: the token no longer in the agent's environment (where /proc/1/environ
 * shows it to every user in the sandbox) but in the token file. A restore keeps the old bundle:
 * the restored agent already holds its token.
 */
export async function upgradeBundle(bundleDir: string): Promise<void> {
  const path = join(bundleDir, "config.json");
  const spec = JSON.parse(await readFile(path, "utf8")) as { process?: BundleProcess };
  const proc = spec.process;
  if (!proc) return;
  const env = (proc.env ?? []).filter((e) => !e.startsWith("BURROW_AGENT_TOKEN="));
  const args = proc.args ?? [];
  const hasFlag = args.includes("--token-file");
  if (env.length === (proc.env ?? []).length && hasFlag) return;
  proc.env = env;
  if (!hasFlag) proc.args = [...args, "--token-file", IN_SANDBOX.tokenFile];
  await writeFile(path, JSON.stringify(spec), { mode: 0o600 });
}
