// Suite "network" (issue 5): a preview URL through the server's proxy against the same request
// sent straight to the sandbox's address, from the host, in the same run.
//
//   BENCH_NET_N         sequential requests per path (default 300)
//   BENCH_NET_SECONDS   duration of each throughput run (default 3)
//   BENCH_NET_CONC      concurrent keep-alive clients in the throughput runs (default 8)
import { Agent, request } from "node:http";
import { Sandbox } from "@burrow/sdk";
import { until } from "../lib/sandbox-work.mjs";
import { startServer } from "../lib/server.mjs";
import { ratio, summarize } from "../lib/stats.mjs";

const N = Number(process.env.BENCH_NET_N ?? 300);
const SECONDS = Number(process.env.BENCH_NET_SECONDS ?? 3);
const CONC = Number(process.env.BENCH_NET_CONC ?? 8);

/** A tiny HTTP server in the sandbox answering "ok" (Python, threaded, one write per answer). */
const SERVER_PY = `python3 -c '
import http.server
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        # One write: separate header and body writes meet Nagle + delayed ACK (40 ms a request).
        self.wfile.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok")
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), H).serve_forever()
'`;

function get(agent, host, port, hostHeader) {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: "/", agent, headers: { Host: hostHeader } }, (res) => {
      res.resume();
      res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on("error", reject);
    req.end();
  });
}

async function latency(target) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  for (let i = 0; i < 20; i++) await get(agent, ...target); // warm up
  const samples = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await get(agent, ...target);
    samples.push(performance.now() - t0);
  }
  agent.destroy();
  return summarize(samples);
}

async function throughput(target) {
  const agent = new Agent({ keepAlive: true, maxSockets: CONC });
  const end = performance.now() + SECONDS * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: CONC }, async () => {
      while (performance.now() < end) {
        await get(agent, ...target);
        done++;
      }
    }),
  );
  agent.destroy();
  return Math.round(done / SECONDS);
}

export async function run({ log, cleanups }) {
  const server = await startServer({ BURROW_NETWORK_PREFIX: "10.196" });
  const created = [];
  cleanups.add(() => server.dispose(created));
  const sb = await Sandbox.create({
    apiUrl: server.url,
    apiKey: server.apiKey,
    lifecycle: { standbyAfterMs: 0, hibernateAfterMs: 0 },
  });
  created.push(sb.sandboxId);
  await sb.commands.run(SERVER_PY, { background: true, timeoutMs: 0 });
  const ip = (await sb.commands.run("hostname -I")).stdout.trim().split(" ")[0];
  const preview = await sb.previews.create(8000, { public: true });
  const { port } = new URL(server.url);
  const viaProxy = ["127.0.0.1", Number(port), preview.host];
  const direct = [ip, 8000, `${ip}:8000`];
  await until(
    "the server in the sandbox",
    async () =>
      get(undefined, ...direct).then(
        () => true,
        () => false,
      ),
    30_000,
  );

  log(`network: latency, ${N} sequential keep-alive requests per path`);
  const proxyLatency = await latency(viaProxy);
  const directLatency = await latency(direct);
  log(`network: throughput, ${CONC} clients × ${SECONDS} s per path`);
  const proxyRps = await throughput(viaProxy);
  const directRps = await throughput(direct);

  return {
    results: {
      preview: {
        latencyMs: { proxy: proxyLatency, direct: directLatency },
        requestsPerSecond: { proxy: proxyRps, direct: directRps, clients: CONC, seconds: SECONDS },
      },
    },
    ratios: {
      previewP50VsDirect: ratio(proxyLatency.p50, directLatency.p50),
      previewP95VsDirect: ratio(proxyLatency.p95, directLatency.p95),
      previewRpsVsDirect: ratio(proxyRps, directRps),
    },
    goals: {},
  };
}
