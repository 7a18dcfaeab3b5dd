import { execFileSync } from "node:child_process";
import { createServer, type Server } from "node:net";
import { Sandbox } from "@burrow/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeHost, startFakeHost } from "./fixtures/fake-host-netns.mjs";
import { startTestServer, type TestServer } from "./harness.js";

const METADATA = "169.254.169.254";

/** The IPv6 link-local address (EUI-64) the kernel gives an interface with this MAC. */
function linkLocalOf(mac: string): string {
  const b = mac.split(":").map((h) => Number.parseInt(h, 16));
  b[0] = (b[0] as number) ^ 2;
  const bytes = [...b.slice(0, 3), 0xff, 0xfe, ...b.slice(3)];
  const groups = [0, 2, 4, 6].map((i) => (((bytes[i] as number) << 8) | (bytes[i + 1] as number)).toString(16));
  return `fe80::${groups.join(":")}`;
}

// Each sandbox has its own network namespace; the host firewall lets sandboxes answer the
// server but never open connections to the host or to each other.
const PROBE = (host: string, port: number) =>
  `python3 -c "import socket,sys
s=socket.socket(); s.settimeout(1.5)
try:
    s.connect(('${host}', ${port})); print('connected')
except Exception as e:
    print('refused', type(e).__name__)"`;

const OWN_ADDRESSES =
  "python3 -c \"import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.connect(('192.0.2.1',9));print(s.getsockname()[0])\"; " +
  "python3 -c \"import socket,struct\nfor l in open('/proc/net/route').readlines()[1:]:\n  f=l.split()\n  if f[1]=='00000000': print(socket.inet_ntoa(struct.pack('<L',int(f[2],16))))\"";

describe("sandbox network isolation", () => {
  let server: TestServer;
  let hostListener: Server;
  let hostPort: number;
  let a: Sandbox;
  let b: Sandbox;
  let metadata: FakeHost;

  beforeAll(async () => {
    // The metadata address belongs to a namespace this test owns: no packet leaves the machine.
    metadata = await startFakeHost("metadata", [METADATA], [80, 8080]);
    server = await startTestServer();
    hostListener = createServer((socket) => socket.end("host says hi\n"));
    // "::" takes IPv6 too (dual stack): the host service listens on every address of both families.
    await new Promise<void>((resolve) => hostListener.listen(0, "::", () => resolve()));
    hostPort = (hostListener.address() as { port: number }).port;
    const opts = { apiUrl: server.url, apiKey: server.apiKey };
    [a, b] = await Promise.all([Sandbox.create(opts), Sandbox.create(opts)]);
  });

  afterAll(async () => {
    hostListener?.close();
    await server?.dispose();
    metadata?.stop();
  });

  it("a sandbox reaches its own services on loopback", async () => {
    const result = await a.commands.run(PROBE("127.0.0.1", 49983));
    expect(result.stdout.trim()).toBe("connected");
  });

  it("cannot reach a host service listening on all interfaces, via its gateway address", async () => {
    const [ownIp, gateway] = (await a.commands.run(OWN_ADDRESSES)).stdout.trim().split("\n");
    expect(ownIp).toMatch(/^10\.\d+\.\d+\.\d+$/);
    expect(gateway).toMatch(/^10\.\d+\.\d+\.\d+$/);
    const result = await a.commands.run(PROBE(gateway as string, hostPort));
    expect(result.stdout).toContain("refused");
  });

  it("cannot reach the host over IPv6 through the link-local address of its veth", async () => {
    const hostIf = `bw${a.sandboxId.slice(3, 16)}`;
    const mac = /link\/ether ([0-9a-f:]{17})/.exec(
      execFileSync("ip", ["link", "show", hostIf], { encoding: "utf8" }),
    )?.[1];
    const result = await a.commands.run(
      `python3 -c "import socket
s=socket.socket(socket.AF_INET6); s.settimeout(2)
try:
    s.connect(('${linkLocalOf(mac as string)}%eth0', ${hostPort}, 0, 0)); print('connected')
except Exception as e:
    print('refused', type(e).__name__)"`,
    );
    expect(result.stdout).toContain("refused");
  });

  it("cannot reach another sandbox's agent", async () => {
    const [bIp] = (await b.commands.run(OWN_ADDRESSES)).stdout.trim().split("\n");
    const result = await a.commands.run(PROBE(bIp as string, 49983));
    expect(result.stdout).toContain("refused");
  });

  it("cannot reach the link-local metadata address, which the host reaches", async () => {
    // The fake metadata server answers the host on both ports: the block below is the firewall's.
    const fromHost = (port: number) =>
      execFileSync("curl", ["-sS", "-m", "5", `http://${METADATA}:${port}/`], { encoding: "utf8" });
    expect(fromHost(8080)).toBe(`metadata at ${METADATA}:8080\n`);
    expect(fromHost(80)).toBe(`metadata at ${METADATA}:80\n`);
    // Any port but 80/443 is dropped by the firewall.
    const result = await a.commands.run(PROBE(METADATA, 8080));
    expect(result.stdout).toContain("refused");
    // Port 80 lands on Burrow's egress proxy, which refuses the request instead of forwarding it.
    const http = await a.commands.run(
      `curl -s -m 5 -o /dev/null -w '%{http_code}' http://${METADATA}/latest/meta-data/ || true`,
    );
    expect(http.stdout).toBe("403");
  });
});
