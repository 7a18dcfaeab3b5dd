import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { Sandbox } from "@burrow/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeHost, startFakeHost } from "./fixtures/fake-host-netns.mjs";
import { startTestServer, type TestServer } from "./harness.js";
import { sh } from "./sandbox-shell.js";

/** How a TCP connection attempt ends: "connected" or the exception's type. */
const probe = (host: string, port: number) =>
  `python3 -c "import socket
s=socket.socket(); s.settimeout(2)
try:
    s.connect(('${host}', ${port})); print('connected')
except Exception as e:
    print('refused', type(e).__name__)"`;

const LISTEN_7000 =
  "nohup python3 -m http.server 7000 >/dev/null 2>&1 & " +
  "for i in $(seq 100); do python3 -c \"import socket; socket.create_connection(('127.0.0.1', 7000), 1)\" 2>/dev/null && break; sleep 0.1; done";

const ownIp = async (sandbox: Sandbox) => (await sh(sandbox, "hostname -I")).stdout.trim().split(" ")[0] as string;

// Two Burrow servers on one host (different prefixes), and "a company service" at a private
// address inside a network namespace this test owns, routed through the host.
describe("isolation between servers and from private networks", () => {
  let serverA: TestServer;
  let serverB: TestServer;
  let a: Sandbox;
  let b: Sandbox;
  let internal: FakeHost;
  const service = `10.77.${1 + ((randomBytes(1)[0] as number) % 250)}.1`;
  const setPolicy = (server: TestServer, id: string, egress: unknown) =>
    server.request("PUT", `/v1/sandboxes/${id}/network`, { egress });

  beforeAll(async () => {
    internal = await startFakeHost("internal", [service], [80, 8080]);
    [serverA, serverB] = await Promise.all([startTestServer(), startTestServer()]);
    [a, b] = await Promise.all([
      Sandbox.create({ apiUrl: serverA.url, apiKey: serverA.apiKey }),
      Sandbox.create({ apiUrl: serverB.url, apiKey: serverB.apiKey }),
    ]);
  }, 180_000);

  afterAll(async () => {
    await Promise.all([serverA?.dispose(), serverB?.dispose()]);
    internal?.stop();
  });

  it("a sandbox of one server cannot open a connection to a sandbox of another, either way", async () => {
    const [ipA, ipB] = await Promise.all([ownIp(a), ownIp(b)]);
    expect(ipA.split(".").slice(0, 2)).not.toEqual(ipB.split(".").slice(0, 2));
    // Each agent listens on 49983; a plain listener on 7000, waited for on loopback.
    await Promise.all([a, b].map((sb) => sh(sb, LISTEN_7000)));
    expect((await sh(a, probe("127.0.0.1", 7000))).stdout.trim()).toBe("connected");
    for (const port of [49983, 7000]) {
      expect((await sh(a, probe(ipB, port))).stdout).toContain("refused");
      expect((await sh(b, probe(ipA, port))).stdout).toContain("refused");
    }
    // Port 80 goes to the egress proxy, which refuses any sandbox's address.
    const http = await sh(a, `curl -s -m 5 -o /dev/null -w '%{http_code}' http://${ipB}:80/ || true`);
    expect(http.stdout).toBe("403");
  });

  it("the default policy refuses a private address the host reaches", async () => {
    const fromHost = execFileSync("curl", ["-sS", "-m", "5", `http://${service}:8080/`], { encoding: "utf8" });
    expect(fromHost).toBe(`internal at ${service}:8080\n`);
    expect((await sh(a, probe(service, 8080))).stdout).toContain("refused");
    const http = await sh(a, `curl -s -m 5 -o /dev/null -w '%{http_code}' http://${service}/ || true`);
    expect(http.stdout).toBe("403");
  });

  it("an allow CIDR opens that private range, and still no other server's sandbox", async () => {
    const net = `${service.split(".").slice(0, 3).join(".")}.0/24`;
    expect((await setPolicy(serverA, a.sandboxId, { default: "allow", allow: [net] })).status).toBe(200);
    expect((await sh(a, `curl -sS -m 5 http://${service}:8080/`)).stdout).toBe(`internal at ${service}:8080\n`);
    expect((await sh(a, `curl -sS -m 5 http://${service}/`)).stdout).toBe(`internal at ${service}:80\n`);
    // A sandbox of the same server without that policy still cannot.
    const a2 = await Sandbox.create({ apiUrl: serverA.url, apiKey: serverA.apiKey });
    expect((await sh(a2, probe(service, 8080))).stdout).toContain("refused");
    await a2.kill();
    // Allowing all of 10/8 opens no sandbox: those are never reachable.
    expect((await setPolicy(serverA, a.sandboxId, { default: "allow", allow: ["10.0.0.0/8"] })).status).toBe(200);
    const ipB = await ownIp(b);
    expect((await sh(a, probe(ipB, 49983))).stdout).toContain("refused");
    expect((await sh(a, `curl -s -m 5 -o /dev/null -w '%{http_code}' http://${ipB}:80/ || true`)).stdout).toBe("403");
    expect((await sh(a, probe(service, 8080))).stdout.trim()).toBe("connected");
  });
});
