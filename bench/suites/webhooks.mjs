// Suite "webhooks" (issue 16): fan-out of 1 000 events. BENCH_WEBHOOK_HOOKS webhooks (default 10)
// on one real HTTP receiver on loopback; BENCH_WEBHOOK_EVENTS test deliveries (default 1 000)
// queued through `POST /v1/webhooks/{id}/test`, 20 calls at a time, spread over the webhooks.
// Reports the queueing call's latency, the time until the receiver has every delivery, the
// deliveries per second, and each delivery's latency from its event to its arrival. No sandbox
// is involved. The issue names no number for it: results only.
import { createServer } from "node:http";
import { pool, startServer } from "../lib/server.mjs";
import { round, summarize } from "../lib/stats.mjs";

const HOOKS = Number(process.env.BENCH_WEBHOOK_HOOKS ?? 10);
const EVENTS = Number(process.env.BENCH_WEBHOOK_EVENTS ?? 1000);

export async function run({ log, cleanups }) {
  const server = await startServer({ BURROW_NETWORK_PREFIX: "10.186" });
  cleanups.add(() => server.dispose([]));
  const arrivals = [];
  let done;
  const all = new Promise((r) => {
    done = r;
  });
  const receiver = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const payload = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      arrivals.push({ at: Date.now(), latencyMs: Date.now() - Date.parse(payload.at) });
      res.writeHead(204).end();
      if (arrivals.length === EVENTS) done();
    });
  });
  await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
  cleanups.add(() => new Promise((r) => receiver.close(r)));
  const url = `http://127.0.0.1:${receiver.address().port}/hook`;

  const hooks = [];
  for (let i = 0; i < HOOKS; i++) {
    const res = await server.api("POST", "/v1/webhooks", { url, events: ["webhook.test"] });
    if (res.status !== 201) throw new Error(`create webhook: ${res.status}`);
    hooks.push(res.body.id);
  }
  log(`webhooks: ${EVENTS} test deliveries over ${HOOKS} webhooks`);
  const calls = [];
  const t0 = Date.now();
  await pool(
    Array.from({ length: EVENTS }, (_, i) => hooks[i % HOOKS]),
    20,
    async (id) => {
      const s = performance.now();
      const res = await server.api("POST", `/v1/webhooks/${id}/test`);
      calls.push(performance.now() - s);
      if (res.status !== 202) throw new Error(`test delivery: ${res.status}`);
    },
  );
  const queuedMs = Date.now() - t0;
  const timeout = setTimeout(() => done(), 120_000);
  await all;
  clearTimeout(timeout);
  const lastMs = Math.max(...arrivals.map((a) => a.at)) - t0;
  if (arrivals.length < EVENTS) throw new Error(`only ${arrivals.length} of ${EVENTS} deliveries arrived in 120 s`);
  receiver.closeAllConnections();
  return {
    hooks: HOOKS,
    events: EVENTS,
    queueCallMs: summarize(calls),
    allQueuedInMs: queuedMs,
    allDeliveredInMs: lastMs,
    deliveriesPerS: round((EVENTS / lastMs) * 1000, 1),
    eventToArrivalMs: summarize(arrivals.map((a) => a.latencyMs)),
    goals: {},
  };
}
