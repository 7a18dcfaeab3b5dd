// Suite "egress" (issue 5): what the egress proxies cost an HTTPS request from inside a sandbox,
// against HTTPS through the host's NAT alone, in the same run. Servers run in a network namespace
// this suite creates (the e2e tests' fake internet); the client is Python in the sandbox, and
// every path verifies certificates.
//
//   nat:      port 8443, not redirected: NAT only (the floor)
//   spliced:  port 443 through the TLS proxy (SNI checked, bytes spliced): a host with no secret
//   brokered: port 443 to a host with a bound secret: TLS terminated with the Burrow CA, the
//             placeholder replaced, a new verified TLS connection upstream
//
//   BENCH_EGRESS_N   requests per path and mode (default 300)
import { readFileSync } from "node:fs";
import { Sandbox, Secrets } from "@burrow/sdk";
import { startFakeInternet } from "../../tests/e2e/fixtures/fake-internet-netns.mjs";
import { startServer } from "../lib/server.mjs";
import { ratio, summarize } from "../lib/stats.mjs";

const N = Number(process.env.BENCH_EGRESS_N ?? 300);

/**
 * Times N GETs in the sandbox: each on a new connection (handshake included), then N on one
 * keep-alive connection. Prints JSON lists of milliseconds.
 */
const CLIENT_PY = `
import http.client, json, ssl, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ctx = ssl.create_default_context(cafile="/etc/ssl/certs/ca-certificates.crt")
ctx.load_verify_locations("/tmp/fake-internet.pem")
headers = {"Authorization": "Bearer {{secret:BENCH_TOKEN}}"}
def get(c):
    c.request("GET", "/auth", headers=headers)
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
fresh, kept = [], []
for i in range(n + 5):
    t = time.perf_counter(); c = http.client.HTTPSConnection(host, port, context=ctx); get(c); c.close()
    if i >= 5: fresh.append((time.perf_counter() - t) * 1000)
c = http.client.HTTPSConnection(host, port, context=ctx)
for i in range(n + 5):
    t = time.perf_counter(); get(c)
    if i >= 5: kept.append((time.perf_counter() - t) * 1000)
print(json.dumps({"fresh": fresh, "kept": kept}))
`;

export async function run({ log, cleanups }) {
  const internet = await startFakeInternet();
  cleanups.add(async () => internet.stop());
  const server = await startServer({
    BURROW_NETWORK_PREFIX: "10.195",
    BURROW_DNS_UPSTREAM: internet.dns,
    BURROW_EGRESS_UPSTREAM_CA: internet.certPath,
  });
  const created = [];
  cleanups.add(() => server.dispose(created));
  const opts = { apiUrl: server.url, apiKey: server.apiKey };
  await Secrets.create("BENCH_TOKEN", "bench-secret-value", opts);
  const sb = await Sandbox.create({
    ...opts,
    secrets: [{ name: "BENCH_TOKEN", hosts: ["allowed.test"] }],
    lifecycle: { standbyAfterMs: 0, hibernateAfterMs: 0 },
  });
  created.push(sb.sandboxId);
  await sb.files.write("/tmp/fake-internet.pem", readFileSync(internet.certPath, "utf8"));
  await sb.files.write("/tmp/client.py", CLIENT_PY);

  const measure = async (name, host, port) => {
    log(`egress: ${name}, ${N} requests on new connections and ${N} on one`);
    const r = await sb.commands
      .run(`python3 /tmp/client.py ${host} ${port} ${N}`, { timeoutMs: 600_000 })
      .catch((err) => {
        throw new Error(
          `${name}: ${String(err.stderr ?? err)
            .trim()
            .split("\n")
            .slice(-3)
            .join(" / ")}`,
        );
      });
    const { fresh, kept } = JSON.parse(r.stdout);
    return { newConnection: summarize(fresh), keepAlive: summarize(kept) };
  };
  // other.test has no secret bound (spliced); allowed.test has one (brokered). Both are served by the
  // same kind of server, with the same certificate, as the NAT-only path.
  const nat = await measure("NAT only (port 8443)", "other.test", 8443);
  const spliced = await measure("TLS proxy, spliced (no secret)", "other.test", 443);
  const brokered = await measure("TLS proxy, brokered (secret bound)", "allowed.test", 443);

  return {
    results: { httpsRequestMs: { nat, spliced, brokered }, requestsPerPathAndMode: N },
    ratios: {
      splicedNewConnectionP50VsNat: ratio(spliced.newConnection.p50, nat.newConnection.p50),
      brokeredNewConnectionP50VsNat: ratio(brokered.newConnection.p50, nat.newConnection.p50),
      splicedKeepAliveP50VsNat: ratio(spliced.keepAlive.p50, nat.keepAlive.p50),
      brokeredKeepAliveP50VsNat: ratio(brokered.keepAlive.p50, nat.keepAlive.p50),
    },
    goals: {},
  };
}
