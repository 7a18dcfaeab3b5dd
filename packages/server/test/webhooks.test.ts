import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { WebhookDelivery, WebhookPayload } from "@burrow/core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebhookAddressPolicy } from "../src/webhooks/blocked-addresses.js";
import { verifyWebhook } from "../src/webhooks/signature.js";
import { type FakeServer, startFakeServer } from "./fake-server.js";

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  payload: WebhookPayload;
}

/** A real HTTP endpoint on loopback; `answer` decides each status (or never answers). */
class Receiver {
  readonly got: Received[] = [];
  answer: (p: WebhookPayload, nth: number) => number | "hang" = () => 200;
  private server: Server | undefined;
  private waiters: (() => void)[] = [];

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        const payload = JSON.parse(body) as WebhookPayload;
        this.got.push({ headers: req.headers, body, payload });
        const status = this.answer(payload, this.got.filter((g) => g.payload.id === payload.id).length);
        for (const w of this.waiters.splice(0)) w();
        if (status === "hang") return;
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((r) => this.server?.listen(0, "127.0.0.1", r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  /** Waits until `done` holds for what arrived (each arrival re-checks). */
  async until(done: (got: Received[]) => boolean): Promise<void> {
    while (!done(this.got)) await new Promise<void>((r) => this.waiters.push(r));
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }
}

// Webhooks against the real server (fake runtime) and a real HTTP receiver on loopback: signed
// deliveries of sandbox events, filters, retries with the attempt log, order per sandbox, a hanging
// endpoint that does not hold the API, and a pending delivery that survives a restart.
describe("webhooks", () => {
  let s: FakeServer;
  let receiver: Receiver;
  let url: string;
  const fast = { webhooks: { retryDelaysMs: [150, 150], pollMs: 50, timeoutMs: 500 } };
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${s.server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${s.key}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  };
  const hooks: string[] = [];
  const addHook = async (events?: string[]) => {
    const res = await call("POST", "/v1/webhooks", { url, ...(events ? { events } : {}) });
    expect(res.status).toBe(201);
    hooks.push(String(res.body.id));
    return res.body as { id: string; secret: string };
  };
  const createSandbox = async () => String((await call("POST", "/v1/sandboxes", {})).body.id);

  beforeAll(async () => {
    s = await startFakeServer(fast);
  });
  afterAll(async () => {
    await s?.close();
  });
  afterEach(async () => {
    for (const id of hooks.splice(0)) await call("DELETE", `/v1/webhooks/${id}`);
    await receiver?.stop();
  });
  const freshReceiver = async () => {
    receiver = new Receiver();
    url = await receiver.start();
  };

  it("creates, lists and deletes webhooks; the secret is shown once; bad input is a 400, unknown ids 404", async () => {
    await freshReceiver();
    const hook = await addHook(["sandbox.*"]);
    expect(hook.id).toMatch(/^wh_[a-z2-7]{20}$/);
    expect(hook.secret).toMatch(/^whsec_/);
    const listed = (await call("GET", "/v1/webhooks")).body.webhooks as Record<string, unknown>[];
    expect(listed.map((h) => h.id)).toEqual([hook.id]);
    expect(listed[0]).not.toHaveProperty("secret");
    expect((await call("GET", `/v1/webhooks/${hook.id}`)).body).toMatchObject({ url, events: ["sandbox.*"] });
    for (const bad of [
      { url: "not a url" },
      { url: "ftp://127.0.0.1/x" },
      { url: "http://user:pw@127.0.0.1/x" },
      { url, events: ["Sandbox Created"] },
      { url, events: [] },
      { url, extra: 1 },
      // Never sent anywhere: refused when the webhook is made.
      { url: "http://169.254.169.254/latest/meta-data" },
      { url: "http://[::ffff:169.254.169.254]/" },
    ]) {
      const res = await call("POST", "/v1/webhooks", bad);
      expect(res.status, JSON.stringify(bad)).toBe(400);
    }
    for (const [method, path] of [
      ["GET", "/v1/webhooks/wh_nope"],
      ["DELETE", "/v1/webhooks/wh_nope"],
      ["POST", "/v1/webhooks/wh_nope/test"],
      ["GET", "/v1/webhooks/wh_nope/deliveries"],
    ] as const) {
      const res = await call(method, path);
      expect(res.status).toBe(404);
      expect((res.body.error as { code: string }).code).toBe("webhook_not_found");
    }
    expect((await call("GET", `/v1/webhooks/${hook.id}/deliveries?limit=0`)).status).toBe(400);
    expect((await call("DELETE", `/v1/webhooks/${hook.id}`)).status).toBe(204);
    hooks.splice(0);
    expect((await call("GET", `/v1/webhooks/${hook.id}`)).status).toBe(404);
  });

  it("delivers matching sandbox events signed with the webhook's secret; others are not sent", async () => {
    await freshReceiver();
    const all = await addHook(["sandbox.*"]);
    await addHook(["sandbox.hibernated"]);
    const id = await createSandbox();
    await receiver.until((got) => got.some((g) => g.payload.event === "sandbox.created"));
    const got = receiver.got.find((g) => g.payload.event === "sandbox.created") as Received;
    expect(got.payload).toMatchObject({ event: "sandbox.created", sandboxId: id });
    expect(got.headers["burrow-event"]).toBe("sandbox.created");
    expect(got.headers["burrow-delivery"]).toBe(got.payload.id);
    const signature = String(got.headers["burrow-signature"]);
    const now = Math.floor(Date.now() / 1000);
    expect(verifyWebhook(all.secret, signature, got.body, now)).toBe(true);
    expect(verifyWebhook(all.secret, signature, `${got.body} `, now)).toBe(false);
    expect(verifyWebhook(`${all.secret}x`, signature, got.body, now)).toBe(false);
    // An old signature is refused (replay window).
    expect(verifyWebhook(all.secret, signature, got.body, now + 3600)).toBe(false);
    // Only the sandbox.* hook got it.
    expect(receiver.got.filter((g) => g.payload.event === "sandbox.created")).toHaveLength(1);
    const log = (await call("GET", `/v1/webhooks/${all.id}/deliveries`)).body.deliveries as WebhookDelivery[];
    expect(log.some((d) => d.event === "sandbox.created" && d.sandboxId === id)).toBe(true);
    await call("DELETE", `/v1/sandboxes/${id}`);
  });

  it("retries a delivery answered with 500, logs each attempt, and keeps a sandbox's events in order", async () => {
    await freshReceiver();
    // The first delivery fails once; everything after it for the sandbox must wait for it.
    let failed = false;
    receiver.answer = () => {
      if (failed) return 200;
      failed = true;
      return 500;
    };
    const hook = await addHook(["sandbox.*"]);
    const id = await createSandbox();
    await call("POST", `/v1/sandboxes/${id}/pause`);
    await call("POST", `/v1/sandboxes/${id}/resume`);
    await receiver.until((got) => got.filter((g) => g.payload.sandboxId === id).length >= 4);
    const seen = receiver.got.filter((g) => g.payload.sandboxId === id).map((g) => g.payload);
    // The same delivery twice (500, then 200), then the later events in the order they happened.
    expect(seen[0]?.id).toBe(seen[1]?.id);
    expect(seen[0]?.event).toBe("sandbox.created");
    const firstEvents = new Map<string, number>();
    seen.forEach((p, i) => {
      if (!firstEvents.has(p.id)) firstEvents.set(p.id, i);
    });
    const orderAtts = [...firstEvents.keys()].map((d) => seen.find((p) => p.id === d)?.at ?? "");
    expect(orderAtts).toEqual([...orderAtts].sort());
    let log: WebhookDelivery[] = [];
    for (let i = 0; i < 100; i++) {
      log = (await call("GET", `/v1/webhooks/${hook.id}/deliveries`)).body.deliveries as WebhookDelivery[];
      if (log.find((d) => d.id === seen[0]?.id)?.status === "delivered") break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const first = log.find((d) => d.id === seen[0]?.id) as WebhookDelivery;
    expect(first.status).toBe("delivered");
    expect(first.attempts.map((a) => a.status)).toEqual([500, 200]);
    await call("DELETE", `/v1/sandboxes/${id}`);
  });

  it("a hanging endpoint does not hold the API; a test delivery goes to one webhook", async () => {
    await freshReceiver();
    receiver.answer = (p) => (p.event === "sandbox.created" ? "hang" : 200);
    const hook = await addHook(["sandbox.created"]);
    const id = await createSandbox();
    await receiver.until((got) => got.some((g) => g.payload.sandboxId === id));
    // The endpoint still holds that request open; the API answers meanwhile.
    expect((await call("GET", `/v1/sandboxes/${id}`)).status).toBe(200);
    const test = await call("POST", `/v1/webhooks/${hook.id}/test`);
    expect(test.status).toBe(202);
    await receiver.until((got) => got.some((g) => g.payload.event === "webhook.test"));
    await call("DELETE", `/v1/sandboxes/${id}`);
  });
});

describe("webhook deliveries across a restart", () => {
  it("a delivery pending when the server stops is sent by the next start", async () => {
    const receiver = new Receiver();
    const url = await receiver.start();
    receiver.answer = (_p, nth) => (nth === 1 ? 503 : 200);
    // Retried 3 s after the 503: by then the first server is gone.
    const slow = { webhooks: { retryDelaysMs: [3_000], pollMs: 50, timeoutMs: 500 } };
    const first = await startFakeServer(slow);
    const dir = first.dataDir;
    let second: FakeServer | undefined;
    try {
      const auth = { authorization: `Bearer ${first.key}`, "content-type": "application/json" };
      const hook = (await (
        await fetch(`${first.server.url}/v1/webhooks`, { method: "POST", headers: auth, body: JSON.stringify({ url }) })
      ).json()) as { id: string };
      await fetch(`${first.server.url}/v1/webhooks/${hook.id}/test`, { method: "POST", headers: auth });
      await receiver.until((got) => got.length === 1);
      await first.server.close();
      expect(receiver.got).toHaveLength(1);
      // Started again: the stored delivery goes out when due, without a new event.
      second = await startFakeServer(slow, dir);
      await receiver.until((got) => got.length === 2);
      expect(receiver.got[1]?.payload.id).toBe(receiver.got[0]?.payload.id);
      expect(receiver.got[1]?.payload.event).toBe("webhook.test");
    } finally {
      await second?.close();
      await receiver.stop();
    }
  });
});

describe("webhook address policy", () => {
  it("blocks the sandboxes' /16 and link-local, literal or mapped, and lets others through", async () => {
    const policy = new WebhookAddressPolicy("10.200");
    for (const a of ["10.200.0.6", "::ffff:10.200.3.4", "169.254.169.254"]) expect(policy.blocked(a), a).toBe(true);
    for (const a of ["10.201.0.6", "127.0.0.1", "192.168.1.1"]) expect(policy.blocked(a), a).toBe(false);
    expect(await policy.blockedHost("10.200.7.7")).toBe(true);
    expect(await policy.blockedHost("[::ffff:a9fe:a9fe]")).toBe(true);
    expect(await policy.blockedHost("[::1]")).toBe(false);
    expect(await policy.blockedHost("localhost")).toBe(false);
  });
});
