import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { Sandbox } from "@burrow/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeHost, startFakeHost } from "./fixtures/fake-host-netns.mjs";
import { type FakeInternet, startFakeInternet } from "./fixtures/fake-internet-netns.mjs";
import { cliMain, runNode, startTestServer, type TestServer } from "./harness.js";
import { hibernateWhenQuiet, sh } from "./sandbox-shell.js";

const tcp = (ip: string) =>
  `python3 -c "import socket; s = socket.create_connection(('${ip}', 7000), timeout=5); print(s.recv(100).decode().strip())"`;

/** How a TCP connection attempt ends: "tcp-ok", or the exception's type (refused vs timed out). */
const tcpOutcome = (ip: string) =>
  `python3 -c "
import socket
try:
    s = socket.create_connection(('${ip}', 7000), timeout=5); print(s.recv(100).decode().strip())
except Exception as e:
    print(type(e).__name__)"`;

/** Connects `n` times to denied.test:7000 (a lookup each time); prints how many attempts failed. */
const lookupLoop = (n: number) => `python3 -c "
import socket
bad = 0
for i in range(${n}):
    try:
        s = socket.create_connection(('denied.test', 7000), timeout=5); s.recv(16); s.close()
    except Exception:
        bad += 1
print(bad)"`;

/** How a lookup ends: the address, or the resolver's error (NXDOMAIN is EAI_NONAME, a timeout EAI_AGAIN). */
const lookup = (name: string) =>
  `python3 -c "
import socket
try:
    print(socket.gethostbyname('${name}'))
except socket.gaierror as e:
    print('EAI_NONAME' if e.errno == socket.EAI_NONAME else 'EAI_%d' % e.errno)"`;

// Egress with real gVisor against "the internet": DNS, HTTP, HTTPS and TCP servers in a network
// namespace this test creates (198.18.<n>.2 and .3), reached through the host's NAT.
describe("egress policy", () => {
  let server: TestServer;
  let sandbox: Sandbox;
  let internet: FakeInternet;
  let metadata: FakeHost;
  let net = "";
  const opts = () => ({ apiUrl: server.url, apiKey: server.apiKey });
  const setPolicy = (id: string, egress: unknown) => server.request("PUT", `/v1/sandboxes/${id}/network`, { egress });

  beforeAll(async () => {
    internet = await startFakeInternet();
    // The metadata address (meta.test resolves to it) lives in a namespace this test owns.
    metadata = await startFakeHost("metadata", ["169.254.169.254"], [80]);
    net = internet.net;
    server = await startTestServer(undefined, { env: { BURROW_DNS_UPSTREAM: internet.dns } });
    sandbox = await Sandbox.create({ ...opts(), lifecycle: { standbyAfterMs: 0, hibernateAfterMs: 0 } });
  }, 120_000);

  afterAll(async () => {
    await server?.dispose();
    internet?.stop();
    metadata?.stop();
  });

  it("allows everything by default: DNS, HTTP by Host, HTTPS by SNI, and plain TCP", async () => {
    expect((await sh(sandbox, "getent hosts allowed.test")).stdout).toContain(`${net}.2`);
    expect((await sh(sandbox, "curl -sS -m 10 http://allowed.test/")).stdout).toBe(
      `hello from ${net}.2 host=allowed.test\n`,
    );
    expect((await sh(sandbox, "curl -sSk -m 10 https://allowed.test/")).stdout).toBe(
      "secure hello host=allowed.test\n",
    );
    expect((await sh(sandbox, tcp(`${net}.3`))).stdout.trim()).toBe("tcp-ok");
    const got = await server.request("GET", `/v1/sandboxes/${sandbox.sandboxId}/network`);
    expect(await got.json()).toEqual({ egress: { default: "allow", allow: [], deny: [] }, secrets: [] });
  });

  it("resolves names reliably under load", async () => {
    expect((await sh(sandbox, lookupLoop(300))).stdout.trim()).toBe("0");
  });

  it("forgets an earlier server's redirected flows on its prefix when it starts", async () => {
    // Such a conntrack entry names the earlier server's (dead) proxy port: a lookup from the same
    // address and source port, within the entry's lifetime, would be sent there and refused.
    const prefix = "10.192";
    const sport = String(20_000 + (randomBytes(2).readUInt16BE(0) % 40_000));
    const flow = ["-p", "udp", "-s", `${prefix}.0.2`, "-d", `${prefix}.0.1`, "--sport", sport, "--dport", "53"];
    const reply = ["-r", `${prefix}.0.1`, "-q", `${prefix}.0.2`, "--reply-port-src", "1111", "--reply-port-dst", sport];
    execFileSync("conntrack", ["-I", ...flow, ...reply, "-t", "60", "-u", "SEEN_REPLY"], { stdio: "ignore" });
    const listed = () => {
      try {
        return execFileSync("conntrack", ["-L", ...flow], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
      } catch {
        return "";
      }
    };
    expect(listed()).toContain("sport=1111");
    const other = await startTestServer(undefined, { env: { BURROW_NETWORK_PREFIX: prefix } });
    try {
      expect(listed()).not.toContain("sport=1111");
    } finally {
      await other.dispose();
    }
  });

  it("never reaches the host, the API, link-local metadata or another sandbox", async () => {
    const { port } = new URL(server.url);
    const other = await Sandbox.create(opts());
    try {
      const gateway = (await sh(sandbox, "awk '/nameserver/ {print $2}' /etc/resolv.conf")).stdout.trim();
      expect((await sh(sandbox, `curl -sS -m 3 http://${gateway}:${port}/v1/health`)).exitCode).not.toBe(0);
      expect((await sh(sandbox, `curl -sS -m 3 http://${net}.1:${port}/v1/health`)).exitCode).not.toBe(0);
      // Names and literals that lead to the host or metadata are refused by the HTTP proxy.
      expect((await sh(sandbox, "curl -s -m 5 -o /dev/null -w '%{http_code}' http://host.test/")).stdout).toBe("403");
      expect((await sh(sandbox, "curl -s -m 5 -o /dev/null -w '%{http_code}' http://meta.test/")).stdout).toBe("403");
      expect((await sh(sandbox, "curl -s -m 5 -o /dev/null -w '%{http_code}' http://169.254.169.254/")).stdout).toBe(
        "403",
      );
      const otherIp = (await sh(other, "hostname -I")).stdout.trim().split(" ")[0] as string;
      expect(otherIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      expect((await sh(sandbox, `curl -sS -m 3 http://${otherIp}:49983/health`)).exitCode).not.toBe(0);
    } finally {
      await other.kill();
    }
  });

  it("enforces an allow list by DNS, Host, SNI and CIDR, changes live, and logs denials", async () => {
    const set = await setPolicy(sandbox.sandboxId, {
      default: "deny",
      allow: ["allowed.test", "*.svc.test", `${net}.2/32`],
    });
    expect(set.status).toBe(200);
    expect((await sh(sandbox, "curl -sS -m 10 http://allowed.test/")).stdout).toContain("hello");
    expect((await sh(sandbox, "curl -sSk -m 10 https://allowed.test/")).stdout).toContain("secure hello");
    expect((await sh(sandbox, "curl -sS -m 10 http://a.svc.test/")).stdout).toContain("host=a.svc.test");
    // Refused at once with NXDOMAIN, not left to time out.
    expect((await sh(sandbox, lookup("denied.test"))).stdout.trim()).toBe("EAI_NONAME");
    // A forged Host is checked too: the proxy goes where the Host says, or nowhere.
    const forged = await sh(
      sandbox,
      `curl -s -m 5 -o /dev/null -w '%{http_code}' -H 'Host: denied.test' http://${net}.2/`,
    );
    expect(forged.stdout).toBe("403");
    const sni = await sh(sandbox, `curl -sSk -m 5 --resolve denied.test:443:${net}.2 https://denied.test/`);
    expect(sni.exitCode).not.toBe(0);
    // Plain TCP: the CIDR entry allows .2; .3 is refused with a reset (not dropped into a timeout).
    expect((await sh(sandbox, tcp(`${net}.2`))).stdout.trim()).toBe("tcp-ok");
    expect((await sh(sandbox, tcpOutcome(`${net}.3`))).stdout.trim()).toBe("ConnectionRefusedError");

    // Live: the next connection follows the new policy.
    await setPolicy(sandbox.sandboxId, { default: "deny" });
    expect((await sh(sandbox, "curl -sS -m 5 http://allowed.test/")).exitCode).not.toBe(0);
    await setPolicy(sandbox.sandboxId, { default: "allow", deny: ["denied.test", `${net}.3`] });
    expect((await sh(sandbox, "curl -sS -m 10 http://allowed.test/")).stdout).toContain("hello");
    expect((await sh(sandbox, "getent hosts denied.test")).exitCode).not.toBe(0);
    expect((await sh(sandbox, tcp(`${net}.3`))).exitCode).not.toBe(0);

    const events = (await (await server.request("GET", `/v1/sandboxes/${sandbox.sandboxId}/events`)).json()) as {
      events: Array<{ type: string; reason: string }>;
    };
    const denials = events.events.filter((e) => e.type === "egress_denied").map((e) => e.reason);
    expect(denials).toContain("dns denied.test");
    expect(denials).toContain("http denied.test");
    expect(denials).toContain("tls denied.test");
  });

  it("rejects bad entries with a 400 naming them, before creating anything", async () => {
    const cidr = await setPolicy(sandbox.sandboxId, { default: "deny", allow: ["10.0.0.0/33"] });
    expect(cidr.status).toBe(400);
    const body = (await cidr.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("validation_failed");
    expect(body.error.message).toContain("10.0.0.0/33");
    const domain = await setPolicy(sandbox.sandboxId, { deny: ["exa mple.com"] });
    expect(domain.status).toBe(400);
    expect(((await domain.json()) as { error: { message: string } }).error.message).toContain("exa mple.com");
    const before = ((await (await server.request("GET", "/v1/sandboxes")).json()) as { sandboxes: unknown[] }).sandboxes
      .length;
    const create = await server.request("POST", "/v1/sandboxes", { network: { egress: { allow: ["*.*"] } } });
    expect(create.status).toBe(400);
    const after = ((await (await server.request("GET", "/v1/sandboxes")).json()) as { sandboxes: unknown[] }).sandboxes
      .length;
    expect(after).toBe(before);
  });

  it("keeps the policy through hibernation and wake, and gives it to forks", async () => {
    await setPolicy(sandbox.sandboxId, { default: "allow", deny: ["denied.test"] });
    await hibernateWhenQuiet(sandbox);
    expect((await sh(sandbox, "getent hosts denied.test")).exitCode).not.toBe(0);
    expect((await sh(sandbox, "curl -sS -m 10 http://allowed.test/")).stdout).toContain("hello");
    const { sandboxIds } = await sandbox.checkpoints.fork("now");
    const fork = await Sandbox.connect(sandboxIds[0] as string, opts());
    try {
      const policy = await (await server.request("GET", `/v1/sandboxes/${fork.sandboxId}/network`)).json();
      expect(policy).toEqual({ egress: { default: "allow", allow: [], deny: ["denied.test"] }, secrets: [] });
      expect((await sh(fork, "getent hosts denied.test")).exitCode).not.toBe(0);
      expect((await sh(fork, "curl -sS -m 10 http://allowed.test/")).stdout).toContain("hello");
    } finally {
      await fork.kill();
    }
    // The SDK and CLI read and set the same policy.
    expect(await fork.getEgress().catch(() => null)).toBeNull(); // the fork is gone
    await sandbox.setEgress({ default: "deny", allow: ["allowed.test"] });
    expect(await sandbox.getEgress()).toEqual({ default: "deny", allow: ["allowed.test"], deny: [] });
    const cli = await runNode(
      [cliMain, "egress", "--allow", "a.svc.test", "--deny", `${net}.3/32`, sandbox.sandboxId],
      server.clientEnv,
    );
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain("default: deny");
    expect(await sandbox.getEgress()).toEqual({ default: "deny", allow: ["a.svc.test"], deny: [`${net}.3/32`] });
    expect((await sh(sandbox, "curl -sS -m 10 http://a.svc.test/")).stdout).toContain("host=a.svc.test");
    // Created with a policy: it holds from the first command.
    const strictBox = await Sandbox.create({ ...opts(), egress: { default: "deny" } });
    expect((await sh(strictBox, "curl -sS -m 5 http://allowed.test/")).exitCode).not.toBe(0);
    await strictBox.kill();
  });
});
