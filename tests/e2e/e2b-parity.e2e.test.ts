import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { request } from "node:https";
import type { LookupFunction } from "node:net";
import { join } from "node:path";
import { CommandExitError, Sandbox } from "e2b";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runNode, startTestServer, type TestServer } from "./harness.js";

/** What browsers and curl do with `*.localhost`: loopback, without asking DNS (Node's resolver does ask). */
const loopbackForLocalhost: LookupFunction = (hostname, options, callback) => {
  if (!hostname.endsWith(".localhost")) throw new Error(`unexpected host ${hostname}`);
  if (options.all) callback(null, [{ address: "127.0.0.1", family: 4 }]);
  else callback(null, "127.0.0.1", 4);
};

/** GET `url` with Node's https trusting only `ca`. */
function httpsGet(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, lookup: loopbackForLocalhost }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        body += d;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("curl", ["-sS", "--max-time", "20", ...args], (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function until(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("condition not met in time");
}

/**
 * A process claiming to be root to the agent's sudo socket (SCM_CREDENTIALS with uid 0): the
 * kernel must refuse to send it. Prints "refused <errno>", or the agent's answer if it got through.
 */
const FORGED_ROOT = `python3 -c '
import socket, struct, os, json, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect("\\0burrow-sudo")
req = json.dumps({"argv": ["id", "-u"], "env": [], "cwd": "/"}).encode() + b"\\n"
anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("3i", 0, 1, 2)),
       (socket.SOL_SOCKET, socket.SCM_CREDENTIALS, struct.pack("3i", os.getpid(), 0, 0))]
try:
    s.sendmsg([req], anc)
except OSError as e:
    print("refused", e.errno); sys.exit(0)
print(s.recv(4096).decode())'`;

/** The commands the base template adds for scripts written for E2B's default image (docs/e2b.md). */
const ADDED_COMMANDS = ["sudo", "python", "pip", "wget", "unzip", "zip", "bzip2", "jq", "file", "lsof", "make"]
  .concat(["ip", "ss", "nc", "ssh", "gpg"])
  .sort();

// Issue #13 items 6 and 7 with the official `e2b` SDK, a real server and real runsc: the base
// template has what E2B's default image users rely on, and `getHost(port)` is a working https URL.
describe("e2b SDK against Burrow: base image parity and HTTPS sandbox hosts", () => {
  let server: TestServer;
  let key: string;
  let sandbox: Sandbox;
  const opts = () => ({ apiKey: key, apiUrl: server.url, sandboxUrl: server.url });
  /** Runs a command as `user` (the SDK's default); a non-zero exit is a result. */
  const run = async (cmd: string) => {
    try {
      const r = await sandbox.commands.run(cmd, { timeoutMs: 30_000 });
      return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
    } catch (err) {
      if (err instanceof CommandExitError) return { exitCode: err.exitCode, stdout: err.stdout, stderr: err.stderr };
      throw err;
    }
  };

  beforeAll(async () => {
    server = await startTestServer();
    key = readFileSync(join(server.dataDir, "e2b-api-key"), "utf8").trim();
    sandbox = await Sandbox.create(opts());
  });

  afterAll(async () => {
    await server?.dispose();
  });

  it("lets `user` sudo without a password, and `python`/`pip` are Python 3", async () => {
    expect(await run("id -un")).toMatchObject({ exitCode: 0, stdout: "user\n" });
    expect(await run("sudo -n true")).toMatchObject({ exitCode: 0 });
    expect(await run("sudo -n id -u")).toMatchObject({ exitCode: 0, stdout: "0\n" });
    expect((await run("sudo apt-get --version")).exitCode).toBe(0);
    // The caller's stdin, stdout and working directory; SUDO_USER; the command's exit code.
    expect(
      await run(
        "cd /srv && echo written | sudo tee /etc/burrow-sudo-test && sudo sh -c 'pwd; echo $SUDO_USER; exit 7'",
      ),
    ).toMatchObject({ exitCode: 7, stdout: "written\n/srv\nuser\n" });
    expect(await run("ls -l /etc/burrow-sudo-test | cut -d' ' -f3")).toMatchObject({ stdout: "root\n" });
    expect(await run("sudo -u user -E sh -c 'id -un; echo $HOME'")).toMatchObject({ stdout: "user\n/home/user\n" });
    // Only members of the group sudo may use it.
    expect((await run("sudo useradd --create-home guest")).exitCode).toBe(0);
    const guest = await run("sudo -u guest sudo -n true");
    expect(guest.exitCode).toBe(1);
    expect(guest.stderr).toMatch(/guest is not in the sudoers file/);
    expect(await run(`sudo -u guest ${FORGED_ROOT}`)).toMatchObject({ exitCode: 0, stdout: "refused 1\n" });
    const python = await run("python --version");
    expect(python.exitCode).toBe(0);
    expect(python.stdout).toMatch(/^Python 3\.\d+/);
    expect((await run("pip --version")).stdout).toMatch(/\(python 3\.\d+\)/);
    // pip installs next to Debian's packages instead of refusing (PEP 668), as on E2B's image. No
    // index is reachable here, so the install stops at "no such distribution", past the check.
    const pip = await run("pip install --no-index --quiet burrow-no-such-package");
    expect(pip.exitCode).not.toBe(0);
    expect(`${pip.stdout}${pip.stderr}`).not.toMatch(/externally-managed-environment/);
    expect(`${pip.stdout}${pip.stderr}`).toMatch(/No matching distribution|Could not find a version/);
  });

  it("has the other commands E2B's image users rely on, and they work", async () => {
    const found = await run(`for c in ${ADDED_COMMANDS.join(" ")}; do command -v "$c" >/dev/null && echo "$c"; done`);
    expect(found.stdout.trim().split("\n").sort()).toEqual(ADDED_COMMANDS);
    const work = [
      "cd $(mktemp -d)",
      "echo '{\"a\": [1, 2]}' | jq -c '.a'",
      "echo zipped > z.txt && zip -q z.zip z.txt && rm z.txt && unzip -q z.zip && cat z.txt",
      "echo bz | bzip2 | bzip2 -d",
      "file --brief --mime-type z.zip",
      "printf 'all:\\n\\t@echo made\\n' > Makefile && make",
      "ip -o link show lo | cut -d: -f2",
      "wget --version | head -1 | cut -d' ' -f1-2",
      "ssh -V 2>&1 | cut -d_ -f1",
      "gpg --version | head -1 | cut -d' ' -f1-2",
      "nc -h 2>&1 | head -1 | cut -d' ' -f1",
      "lsof -v 2>&1 | head -1",
    ].join(" && ");
    const out = await run(work);
    expect(out.exitCode, out.stderr).toBe(0);
    expect(out.stdout.split("\n")).toEqual([
      "[1,2]",
      "zipped",
      "bz",
      "application/zip",
      "made",
      " lo",
      "GNU Wget",
      "OpenSSH",
      "gpg (GnuPG)",
      "OpenBSD",
      "lsof version information:",
      "",
    ]);
    // `ss` is what the SDK's waitForPort runs: it must see a listening port under gVisor.
    await sandbox.commands.run("python3 -m http.server 8765 --bind 0.0.0.0", { background: true });
    await until(async () => (await run("ss -tuln | grep -c ':8765 '")).stdout.trim() === "1");
  });

  it("serves getHost(port) as https://PORT-ID.localhost:PORT with a certificate from Burrow's preview CA", async () => {
    const https = server.https;
    expect(https?.caPath).toBeDefined();
    const ca = readFileSync(https?.caPath as string, "utf8");
    await sandbox.files.write("/home/user/site/hello.txt", "hello over https\n");
    await sandbox.commands.run("cd /home/user/site && python3 -m http.server 8000", { background: true });
    const host = sandbox.getHost(8000);
    expect(host).toBe(`8000-${sandbox.sandboxId}.localhost:${new URL(https?.url as string).port}`);
    const url = `https://${host}/hello.txt`;
    await until(async () => (await httpsGet(url, ca)).status === 200);
    expect(await httpsGet(url, ca)).toEqual({ status: 200, body: "hello over https\n" });
    // curl resolves *.localhost to loopback itself, as browsers do: the URL works as printed.
    const caPath = https?.caPath as string;
    expect(await curl(["--cacert", caPath, url])).toMatchObject({ code: 0, stdout: "hello over https\n" });
    // Without trusting the preview CA, the certificate is refused.
    expect((await curl([url])).code).toBe(60);

    // Plain HTTP keeps working: by the E2B headers, and by Host on the HTTP listener.
    const plain = await fetch(`${server.url}/hello.txt`, {
      headers: { "E2b-Sandbox-Id": sandbox.sandboxId, "E2b-Sandbox-Port": "8000" },
    });
    expect(await plain.text()).toBe("hello over https\n");
    const httpPort = new URL(server.url).port;
    const byHost = await curl([`http://8000-${sandbox.sandboxId}.localhost:${httpPort}/hello.txt`]);
    expect(byHost).toMatchObject({ code: 0, stdout: "hello over https\n" });
  });

  it("runs the whole SDK over HTTPS (API and sandbox plane) when Node trusts the preview CA", async () => {
    const base = (server.https?.url ?? "").replace("127.0.0.1", "localhost");
    expect(base).toMatch(/^https:\/\/localhost:\d+$/);
    const script = `
      import { Sandbox } from "e2b";
      const sb = await Sandbox.create();
      const r = await sb.commands.run("echo over tls; sudo -n whoami");
      await sb.files.write("/tmp/t.txt", "file over tls");
      console.log(JSON.stringify({ stdout: r.stdout, file: await sb.files.read("/tmp/t.txt"), host: sb.getHost(3000), id: sb.sandboxId }));
      await sb.kill();
    `;
    const run = await runNode(["--input-type=module", "-e", script], {
      E2B_API_KEY: key,
      E2B_API_URL: base,
      E2B_SANDBOX_URL: base,
      NODE_EXTRA_CA_CERTS: server.https?.caPath as string,
    });
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as { stdout: string; file: string; host: string; id: string };
    expect(out).toMatchObject({ stdout: "over tls\nroot\n", file: "file over tls" });
    // Called over TLS by name, the sandbox hosts are under that name.
    expect(out.host).toBe(`3000-${out.id}.${new URL(base).host}`);
  });
});
