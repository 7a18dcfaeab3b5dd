import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import { Sandbox, Secrets } from "@burrow/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeInternet, startFakeInternet } from "./fixtures/fake-internet-netns.mjs";
import { cliMain, runNode, startTestServer, type TestServer } from "./harness.js";
import { sh } from "./sandbox-shell.js";

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** Files under `dir` (sandbox rootfs mounts skipped: their writes are in `upper`) that hold `needle`. */
function filesHolding(dir: string, needle: string): string[] {
  try {
    return execFileSync("grep", ["-rlF", "-D", "skip", "--exclude-dir=rootfs", "--", needle, dir], { encoding: "utf8" })
      .split("\n")
      .filter(Boolean);
  } catch (err) {
    if ((err as { status?: number }).status === 1) return []; // grep: nothing found
    throw err;
  }
}

// Credential brokering with real gVisor: the sandbox holds only `{{secret:GH_TOKEN}}`; the egress
// proxy puts the value in request headers to the bound host (HTTPS through the Burrow CA the
// sandbox trusts) and nowhere else. The fake internet answers the sha256 of the Authorization
// header it got, so the value never travels back into the sandbox.
describe("credential brokering", () => {
  let server: TestServer;
  let internet: FakeInternet;
  let sandbox: Sandbox;
  let checkpointId = "";
  const secret = `ghp_${randomBytes(18).toString("hex")}`;
  const withSecret = sha256(`Bearer ${secret}`);
  const withPlaceholder = sha256("Bearer {{secret:GH_TOKEN}}");
  const opts = () => ({ apiUrl: server.url, apiKey: server.apiKey });
  const curlAuth = (url: string, flags = "") =>
    `curl -sS ${flags} -m 10 -H "Authorization: Bearer $GH_TOKEN" ${url} | sed 's/.*auth=//'`;

  beforeAll(async () => {
    internet = await startFakeInternet();
    server = await startTestServer(undefined, {
      env: {
        BURROW_DNS_UPSTREAM: internet.dns,
        BURROW_EGRESS_UPSTREAM_CA: internet.certPath,
        // Uncompressed memory images, so a search of the checkpoint's blobs sees the memory as it was.
        BURROW_CHECKPOINT_COMPRESSION: "none",
        // Debug logs include the brokering lines: the value must not be in them either.
        BURROW_LOG_LEVEL: "debug",
      },
    });
    await Secrets.create("GH_TOKEN", secret, opts());
    sandbox = await Sandbox.create({
      ...opts(),
      secrets: [{ name: "GH_TOKEN", hosts: ["allowed.test"] }],
      lifecycle: { standbyAfterMs: 0, hibernateAfterMs: 0 },
    });
  }, 120_000);

  afterAll(async () => {
    await server?.dispose();
    internet?.stop();
  });

  it("shows the sandbox only the placeholder, and sends the value to the bound host alone", async () => {
    expect((await sh(sandbox, 'printf %s "$GH_TOKEN"')).stdout).toBe("{{secret:GH_TOKEN}}");
    // HTTPS to the bound host: TLS is terminated with a certificate curl trusts (no -k).
    expect((await sh(sandbox, curlAuth("https://allowed.test/auth"))).stdout.trim()).toBe(withSecret);
    // Plain HTTP would carry the value unencrypted: only a binding with allowHttp sends it there.
    expect((await sh(sandbox, curlAuth("http://allowed.test/auth"))).stdout.trim()).toBe(withPlaceholder);
    await sandbox.setSecrets([{ name: "GH_TOKEN", hosts: ["allowed.test"], allowHttp: true }]);
    expect((await sh(sandbox, curlAuth("http://allowed.test/auth"))).stdout.trim()).toBe(withSecret);
    await sandbox.setSecrets([{ name: "GH_TOKEN", hosts: ["allowed.test"] }]);
    // Python's and Node's own TLS stacks trust the Burrow CA too.
    const py = await sh(
      sandbox,
      `python3 -c "import os, urllib.request as u; print(u.urlopen(u.Request('https://allowed.test/auth', headers={'Authorization': 'Bearer ' + os.environ['GH_TOKEN']})).read().decode().split('=')[1].strip())"`,
    );
    expect(py.stdout.trim()).toBe(withSecret);
    const node = await sh(
      sandbox,
      `node -e "fetch('https://allowed.test/auth', { headers: { authorization: 'Bearer ' + process.env.GH_TOKEN } }).then((r) => r.text()).then((t) => console.log(t.split('=')[1].trim()))"`,
    );
    expect(node.stdout.trim()).toBe(withSecret);
    // Another host gets the placeholder as it was, over HTTPS (spliced, its own certificate) and HTTP.
    expect((await sh(sandbox, curlAuth("https://other.test/auth", "-k"))).stdout.trim()).toBe(withPlaceholder);
    expect((await sh(sandbox, curlAuth("http://other.test/auth"))).stdout.trim()).toBe(withPlaceholder);
    // A forged Host to the bound name over plain HTTP still goes only where the Host says.
    const forged = await sh(sandbox, curlAuth(`-H 'Host: other.test' http://${internet.net}.2/auth`));
    expect(forged.stdout.trim()).toBe(withPlaceholder);
  });

  it("keeps the value out of the sandbox's env, files, memory image, and the server's disk and logs", async () => {
    // Searched for here, not in the sandbox: a command line naming the value would put it there.
    const environ = (await sh(sandbox, "cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'")).stdout;
    expect(environ).toContain("GH_TOKEN={{secret:GH_TOKEN}}");
    expect(environ).not.toContain(secret);
    // A full checkpoint holds the sandbox's memory and processes, right after they used the secret.
    await sh(sandbox, curlAuth("https://allowed.test/auth"));
    const checkpoint = await sandbox.checkpoints.create({ mode: "full", wait: true });
    expect(checkpoint.status).toBe("ready");
    checkpointId = checkpoint.id;
    expect(filesHolding(server.dataDir, secret)).toEqual([]);
    // The search does see the checkpoint's memory: the placeholder the processes held is in its blobs.
    expect(filesHolding(join(server.dataDir, "blobs"), "{{secret:GH_TOKEN}}").length).toBeGreaterThan(0);
    expect(server.output()).toContain("brokered secrets");
    expect(server.output()).not.toContain(secret);
  });

  it("keeps bindings through hibernation, restore and forks, changes them live, and refuses unknown secrets", async () => {
    await sandbox.hibernate();
    expect((await sh(sandbox, curlAuth("https://allowed.test/auth"))).stdout.trim()).toBe(withSecret);
    await sandbox.checkpoints.restore(checkpointId);
    expect((await sh(sandbox, curlAuth("https://allowed.test/auth"))).stdout.trim()).toBe(withSecret);
    const { sandboxIds } = await sandbox.checkpoints.fork("now");
    const fork = await Sandbox.connect(sandboxIds[0] as string, opts());
    try {
      expect((await fork.getNetwork()).secrets).toEqual([{ name: "GH_TOKEN", hosts: ["allowed.test"] }]);
      expect((await sh(fork, curlAuth("https://allowed.test/auth"))).stdout.trim()).toBe(withSecret);
    } finally {
      await fork.kill();
    }
    // A new value is used from the next request.
    await Secrets.set("GH_TOKEN", `${secret}-2`, opts());
    expect((await sh(sandbox, curlAuth("https://allowed.test/auth"))).stdout.trim()).toBe(sha256(`Bearer ${secret}-2`));

    // Bound live to other.test instead: the env keeps the placeholder, allowed.test no longer gets the value.
    await sandbox.setSecrets([{ name: "GH_TOKEN", hosts: ["other.test"] }]);
    expect((await sh(sandbox, curlAuth("https://other.test/auth"))).stdout.trim()).toBe(sha256(`Bearer ${secret}-2`));
    expect((await sh(sandbox, curlAuth("https://allowed.test/auth", "-k"))).stdout.trim()).toBe(withPlaceholder);
    // Unbound: the env var goes away for new commands.
    await sandbox.setSecrets([]);
    expect((await sh(sandbox, "printenv GH_TOKEN || echo unset")).stdout).toBe("unset\n");

    await expect(sandbox.setSecrets([{ name: "NOPE", hosts: ["a.test"] }])).rejects.toMatchObject({
      code: "unknown_secret",
    });
    const res = await server.request("POST", "/v1/sandboxes", {
      network: { secrets: [{ name: "NOPE", hosts: ["a.test"] }] },
    });
    expect(res.status).toBe(400);
  });

  it("is driven from the CLI: secret set/ls/rm and create --secret", async () => {
    const env = server.clientEnv;
    const set = await runNode([cliMain, "secret", "set", "CLI_TOKEN"], env, "cli-value-123\n");
    expect(set.code, set.stderr).toBe(0);
    const ls = await runNode([cliMain, "secret", "ls"], env);
    expect(ls.stdout).toContain("CLI_TOKEN");
    expect(ls.stdout).not.toContain("cli-value-123");
    const created = await runNode([cliMain, "create", "--secret", "CLI_TOKEN=allowed.test", "--json"], env);
    expect(created.code, created.stderr).toBe(0);
    const id = (JSON.parse(created.stdout) as { id: string }).id;
    const box = await Sandbox.connect(id, opts());
    try {
      const got = await sh(box, `curl -sS -m 10 -H "Authorization: Bearer $CLI_TOKEN" https://allowed.test/auth`);
      expect(got.stdout).toContain(sha256("Bearer cli-value-123"));
    } finally {
      await box.kill();
    }
    expect((await runNode([cliMain, "secret", "rm", "CLI_TOKEN"], env)).code).toBe(0);
    expect((await Secrets.list(opts())).map((s) => s.name)).toEqual(["GH_TOKEN"]);
  });

  it("runs examples/brokered-secret.mjs against the fake internet", async () => {
    const token = `tok_${randomBytes(8).toString("hex")}`;
    const run = await runNode([join(import.meta.dirname, "..", "..", "examples", "brokered-secret.mjs")], {
      ...server.clientEnv,
      API_TOKEN: token,
      TARGET_URL: "https://allowed.test/auth",
    });
    expect(run.code, `${run.stdout}${run.stderr}`).toBe(0);
    expect(run.stdout).toContain("inside the sandbox API_TOKEN is {{secret:API_TOKEN}}");
    expect(run.stdout).toContain(`allowed.test answered: secure auth=${sha256(`Bearer ${token}`)}`);
    expect((await Secrets.list(opts())).map((s) => s.name)).toEqual(["GH_TOKEN"]);
  });
});
