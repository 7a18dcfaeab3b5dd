import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PermissionDeniedError, Sandbox } from "@burrow/sdk";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";
import { sh } from "./sandbox-shell.js";

/** The agent token the server keeps for a sandbox (what root in a sandbox could read from PID 1's memory). */
function agentToken(server: TestServer, id: string): string {
  const db = new Database(join(server.dataDir, "burrow.db"), { readonly: true, fileMustExist: true });
  try {
    return db.prepare("SELECT agent_token FROM sandboxes WHERE id = ?").pluck().get(id) as string;
  } finally {
    db.close();
  }
}

const curlInit = (token: string, body: string) =>
  `curl -s -o /dev/null -w '%{http_code}' -X POST -H 'X-Access-Token: ${token}' -d '${body}' http://127.0.0.1:49983/init`;

// The agent's token, the files API's permissions and its error codes, with real runsc.
describe("agent hardening", () => {
  let server: TestServer;
  let sandbox: Sandbox;

  beforeAll(async () => {
    server = await startTestServer();
    sandbox = await Sandbox.create({ apiUrl: server.url, apiKey: server.apiKey });
  });

  afterAll(async () => {
    await sandbox?.kill().catch(() => false);
    await server?.dispose();
  });

  it("keeps the agent token away from the sandbox user: not in PID 1's environ or cmdline, nor on disk", async () => {
    const token = agentToken(server, sandbox.sandboxId);
    expect(token).toMatch(/^[0-9a-f]{48}$/);
    const environ = await sh(sandbox, "tr '\\0' '\\n' < /proc/1/environ");
    expect(environ.exitCode).toBe(0);
    expect(environ.stdout).toContain("PATH=");
    expect(environ.stdout).not.toContain("BURROW_AGENT_TOKEN");
    expect(environ.stdout).not.toContain(token);
    const cmdline = await sh(sandbox, "tr '\\0' ' ' < /proc/1/cmdline");
    expect(cmdline.stdout).toContain("--token-file");
    expect(cmdline.stdout).not.toContain(token);
    const grep = await sh(
      sandbox,
      `grep -rslF '${token}' /opt /etc /home /tmp /root /var /run /proc/1/environ; echo done`,
    );
    expect(grep.stdout.trim()).toBe("done");
    // The token file is gone once read (root sees the run dir).
    const run = await sandbox.commands.run("ls -A /opt/burrow/run", { user: "root" });
    expect(run.stdout).not.toMatch(/token/);
    // Without the token, the user cannot reconfigure the agent.
    expect((await sh(sandbox, curlInit("guess", '{"accessToken":"mine"}'))).stdout).toBe("401");
  });

  it("takes back an agent whose token root in the sandbox changed, and says so in an event", async () => {
    const token = agentToken(server, sandbox.sandboxId);
    const changed = await sandbox.commands.run(curlInit(token, '{"accessToken":"locked-out"}'), { user: "root" });
    expect(changed.stdout).toBe("204");
    // The first call meets the changed token; the server hands the agent its token back.
    await sandbox.commands.run("true").catch(() => undefined);
    expect((await sandbox.commands.run("echo back")).stdout).toBe("back\n");
    const events = await sandbox.events();
    expect(events.map((e) => e.type)).toContain("agent_token_restored");
    expect((await sandbox.getInfo()).state).toBe("running");
  });

  it("restarts a sandbox of an older release without its token in the agent's environment", async () => {
    const token = agentToken(server, sandbox.sandboxId);
    const configPath = join(server.dataDir, "sandboxes", sandbox.sandboxId, "bundle", "config.json");
    // The bundle as the previous release wrote it: the token in the env, no --token-file.
    const spec = JSON.parse(readFileSync(configPath, "utf8")) as { process: { args: string[]; env: string[] } };
    const at = spec.process.args.indexOf("--token-file");
    spec.process.args.splice(at, 2);
    spec.process.env.push(`BURROW_AGENT_TOKEN=${token}`);
    writeFileSync(configPath, JSON.stringify(spec));
    expect((await server.request("POST", `/v1/sandboxes/${sandbox.sandboxId}/restart`)).status).toBe(200);
    expect((await sandbox.commands.run("echo up")).stdout).toBe("up\n");
    const environ = await sh(sandbox, "tr '\\0' '\\n' < /proc/1/environ");
    expect(environ.stdout).not.toContain(token);
    expect(readFileSync(configPath, "utf8")).not.toContain(token);
  });

  it("runs file operations with the user's permissions: no /etc/shadow, no /etc/passwd, own home fine", async () => {
    await expect(sandbox.files.read("/etc/shadow", { user: "user" })).rejects.toBeInstanceOf(PermissionDeniedError);
    await expect(
      sandbox.files.write("/etc/passwd", "user::0:0::/root:/bin/sh\n", { user: "user" }),
    ).rejects.toBeInstanceOf(PermissionDeniedError);
    await expect(sandbox.files.list("/root", { user: "user" })).rejects.toBeInstanceOf(PermissionDeniedError);
    await expect(sandbox.files.remove("/etc/hostname", { user: "user" })).rejects.toBeInstanceOf(PermissionDeniedError);
    expect(await sandbox.files.read("/etc/passwd", { user: "root" })).toMatch(/^root:/);
    expect(await sandbox.files.read("/etc/shadow", { user: "root" })).toMatch(/^root:/);
    await sandbox.files.write("/home/user/notes/mine.txt", "mine", { user: "user" });
    expect(await sandbox.files.read("/home/user/notes/mine.txt", { user: "user" })).toBe("mine");
    const owner = await sandbox.commands.run("stat -c %U:%G /home/user/notes /home/user/notes/mine.txt", {
      user: "root",
    });
    expect(owner.stdout).toBe("user:user\nuser:user\n");
  });

  it("answers refusals of the file system with 4xx, not 500 (agent binary, /proc/sys, long names)", async () => {
    const status = async (method: string, path: string, body?: string) => {
      const url = `${server.url}/v1/sandboxes/${sandbox.sandboxId}/envd/files?path=${encodeURIComponent(path)}&username=root`;
      const res = await fetch(url, {
        method,
        headers: { Authorization: `Bearer ${server.apiKey}`, "Content-Type": "application/octet-stream" },
        ...(body === undefined ? {} : { body }),
      });
      await res.arrayBuffer();
      return res.status;
    };
    for (const path of [
      "/opt/burrow/bin/burrow-agent",
      "/proc/sys/kernel/hostname",
      "/proc/sys/nope",
      `/tmp/${"n".repeat(300)}`,
    ]) {
      const got = await status("POST", path, "x");
      expect({ path: path.slice(0, 40), got: got >= 400 && got < 500 }).toEqual({ path: path.slice(0, 40), got: true });
    }
    expect(await status("GET", `/tmp/${"n".repeat(300)}`)).toBe(400);
    expect((await sandbox.commands.run("test -x /opt/burrow/bin/burrow-agent && echo intact")).stdout).toBe("intact\n");
  });
});
