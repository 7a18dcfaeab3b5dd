import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { chmod, open, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { IN_SANDBOX } from "./oci-spec.js";

/**
 * The host side of a sandbox's run dir (IN_SANDBOX.runDir, bind-mounted read-write): the agent's
 * token file goes in, the agent's log comes out. Root in the sandbox can change anything in it,
 * so the host never follows a link there.
 */

/** The token file's name in the run dir. */
export const TOKEN_FILE_NAME = "token";

/**
 * Leaves the agent's access token in the sandbox's run dir, root-only (0600), where the agent
 * reads and removes it: at start (`--token-file`), and whenever a request's token does not match
 * (how the server takes back an agent whose token was changed from inside). The run dir is
 * writable by root in the sandbox, so nothing in it is followed: the token goes to a fresh file
 * (O_EXCL | O_NOFOLLOW) that is then renamed over whatever has the name.
 */
export async function writeAgentToken(runDir: string, token: string): Promise<void> {
  // Only root (in the sandbox) may create files here, whatever the server's umask.
  await chmod(runDir, 0o755);
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

/** Most of the agent's log read back for error reports. */
const MAX_LOG_TAIL_BYTES = 64 * 1024;

/**
 * The end of the agent's log in the run dir, or "" when it is missing or not a regular file (a
 * link planted there is not followed: O_NOFOLLOW, and O_NONBLOCK so a FIFO cannot stall us).
 */
export async function readAgentLog(runDir: string): Promise<string> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(join(runDir, "agent.log"), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return "";
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return "";
    const length = Math.min(st.size, MAX_LOG_TAIL_BYTES);
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, st.size - length);
    return buf.subarray(0, bytesRead).toString("utf8");
  } catch {
    return "";
  } finally {
    await fh.close();
  }
}
