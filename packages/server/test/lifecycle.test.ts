import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { FakeRuntime } from "@burrow/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../src/server.js";
import { type FakeServer, startFakeServer } from "./fake-server.js";

// Component test of sleep and wake: the real app, store and lifecycle service, a fake runtime.
// The sleep policy runs on a clock the test moves, one pass at a time (no timer, no sleeping).
describe("lifecycle with a fake runtime", () => {
  let clockMs = Date.now();
  const advance = (ms: number) => {
    clockMs += ms;
  };
  let fake: FakeServer;
  let dataDir: string;
  let server: RunningServer;
  let key: string;
  let runtime: FakeRuntime;

  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };
  const state = async (id: string) => (await call("GET", `/v1/sandboxes/${id}`)).body.state;
  const create = async (body: unknown = {}) => (await call("POST", "/v1/sandboxes", body)).body.id as string;

  beforeAll(async () => {
    fake = await startFakeServer({ lifecycleTickMs: 3_600_000 }, undefined, { now: () => clockMs });
    ({ server, key, runtime, dataDir } = fake);
  });

  afterAll(async () => {
    await fake.close();
  });

  it("pauses to standby and resumes", async () => {
    const id = await create();
    expect((await call("POST", `/v1/sandboxes/${id}/pause`)).body.state).toBe("standby");
    expect(runtime.sandboxes.get(id)?.status).toBe("paused");
    expect((await call("POST", `/v1/sandboxes/${id}/resume`)).body.state).toBe("running");
    expect(runtime.sandboxes.get(id)?.status).toBe("running");
  });

  it("hibernates to an image on disk and wakes on an envd request, with one restore for concurrent callers", async () => {
    const id = await create();
    expect((await call("POST", `/v1/sandboxes/${id}/hibernate`)).body.state).toBe("hibernated");
    expect(existsSync(join(dataDir, "sandboxes", id, "memory", "checkpoint.img"))).toBe(true);
    const before = runtime.restores;
    // The fake agent is unreachable, so these answer 502 — but only after waking the sandbox.
    await Promise.all([1, 2, 3].map(() => call("POST", `/v1/sandboxes/${id}/envd/process.Process/List`, {})));
    expect(runtime.restores - before).toBe(1);
    expect(await state(id)).toBe("running");
    expect(existsSync(join(dataDir, "sandboxes", id, "memory"))).toBe(false);
  });

  it("records every transition as an event with a reason", async () => {
    const id = await create();
    await call("POST", `/v1/sandboxes/${id}/pause`);
    await call("POST", `/v1/sandboxes/${id}/hibernate`);
    await call("POST", `/v1/sandboxes/${id}/resume`);
    const events = (await call("GET", `/v1/sandboxes/${id}/events`)).body.events as Array<{
      type: string;
      to?: string;
      reason: string;
    }>;
    expect(events.map((e) => e.type)).toEqual([
      "created",
      "standby",
      "paused",
      "hibernating",
      "hibernated",
      "waking",
      "woken",
    ]);
    expect(events.every((e) => e.reason.length > 0)).toBe(true);
  });

  it("goes to standby when idle, then hibernates, following its policy", async () => {
    const id = await create({ lifecycle: { standbyAfterMs: 150_000, hibernateAfterMs: 600_000 } });
    advance(149_999);
    await server.tickLifecycle();
    // GET does not count as activity, so looking does not keep the sandbox awake.
    expect(await state(id)).toBe("running");
    advance(1);
    await server.tickLifecycle();
    expect(await state(id)).toBe("standby");
    advance(599_999);
    await server.tickLifecycle();
    expect(await state(id)).toBe("standby");
    advance(1);
    await server.tickLifecycle();
    expect(await state(id)).toBe("hibernated");
  });

  it("stays awake while kept alive, and never sleeps with standbyAfterMs 0", async () => {
    const kept = await create({ lifecycle: { standbyAfterMs: 100_000 } });
    await call("POST", `/v1/sandboxes/${kept}/keepalive`, { durationMs: 1_000_000 });
    const never = await create({ lifecycle: { standbyAfterMs: 0 } });
    advance(1_000_000);
    await server.tickLifecycle();
    expect(await state(kept)).toBe("running");
    advance(99_999);
    await server.tickLifecycle();
    expect(await state(kept)).toBe("running");
    advance(1);
    await server.tickLifecycle();
    expect(await state(kept)).toBe("standby");
    expect(await state(never)).toBe("running");
  });

  it("changes the policy with PATCH and rejects bad values with the field", async () => {
    const id = await create();
    const patched = await call("PATCH", `/v1/sandboxes/${id}`, {
      lifecycle: { hibernateAfterMs: 0 },
      metadata: { a: "b" },
    });
    expect(patched.body.lifecycle).toMatchObject({ standbyAfterMs: 15_000, hibernateAfterMs: 0 });
    expect(patched.body.metadata).toEqual({ a: "b" });
    const bad = await call("PATCH", `/v1/sandboxes/${id}`, { lifecycle: { standbyAfterMs: -1 } });
    expect(bad.status).toBe(400);
    expect((bad.body.error as { details: { field: string } }).details.field).toBe("lifecycle.standbyAfterMs");
  });

  it("deletes a sandbox idle past deleteAfterMs", async () => {
    const id = await create({ lifecycle: { deleteAfterMs: 200_000, standbyAfterMs: 0 } });
    advance(199_999);
    await server.tickLifecycle();
    expect((await call("GET", `/v1/sandboxes/${id}`)).status).toBe(200);
    advance(1);
    await server.tickLifecycle();
    expect((await call("GET", `/v1/sandboxes/${id}`)).status).toBe(404);
  });

  it("keeps a sandbox in standby when hibernation fails, with an event", async () => {
    const id = await create({ lifecycle: { hibernateAfterMs: 0 } });
    await call("POST", `/v1/sandboxes/${id}/pause`);
    runtime.failNextCheckpoint = "no space left on device";
    const res = await call("POST", `/v1/sandboxes/${id}/hibernate`);
    expect(res.status).toBe(500);
    expect(await state(id)).toBe("standby");
    const events = (await call("GET", `/v1/sandboxes/${id}/events`)).body.events as Array<{
      type: string;
      reason: string;
    }>;
    expect(events.at(-1)).toMatchObject({ type: "hibernate_failed" });
    expect(events.at(-1)?.reason).toContain("no space left");
  });

  it("turns a wake with a missing image into error, and restart brings it back", async () => {
    const id = await create();
    await call("POST", `/v1/sandboxes/${id}/hibernate`);
    rmSync(join(dataDir, "sandboxes", id, "memory"), { recursive: true, force: true });
    const res = await call("POST", `/v1/sandboxes/${id}/resume`);
    expect(res.status).toBe(500);
    const info = (await call("GET", `/v1/sandboxes/${id}`)).body;
    expect(info.state).toBe("error");
    expect(info.error).toMatch(/checkpoint image missing/);
    expect((await call("POST", `/v1/sandboxes/${id}/restart`)).body.state).toBe("running");
  });

  it("answers 404 for lifecycle calls on unknown sandboxes", async () => {
    expect((await call("POST", "/v1/sandboxes/sb_aaaaaaaaaaaaaaaaaaaa/pause")).status).toBe(404);
    expect((await call("GET", "/v1/sandboxes/sb_aaaaaaaaaaaaaaaaaaaa/events")).status).toBe(404);
  });
});

describe("warm pool with a fake runtime", () => {
  it("hands out a pre-started sandbox with the caller's metadata, and refills", async () => {
    const fake = await startFakeServer({ warmPool: { base: 2 } });
    const { server, runtime, key } = fake;
    try {
      const headers = { Authorization: `Bearer ${key}`, "Content-Type": "application/json" };
      const deadline = Date.now() + 5_000;
      while (runtime.sandboxes.size < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const pooled = new Set(runtime.sandboxes.keys());
      const list = (await (await fetch(`${server.url}/v1/sandboxes`, { headers })).json()) as { sandboxes: unknown[] };
      expect(list.sandboxes).toHaveLength(0);
      const res = await fetch(`${server.url}/v1/sandboxes`, {
        method: "POST",
        headers,
        body: JSON.stringify({ metadata: { owner: "me" } }),
      });
      const sb = (await res.json()) as { id: string; metadata: Record<string, string> };
      expect(pooled.has(sb.id)).toBe(true);
      expect(sb.metadata).toEqual({ owner: "me" });
      while (runtime.sandboxes.size < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(runtime.sandboxes.size).toBe(3);
      const custom = await fetch(`${server.url}/v1/sandboxes`, {
        method: "POST",
        headers,
        body: JSON.stringify({ resources: { memoryMb: 512 } }),
      });
      expect(pooled.has(((await custom.json()) as { id: string }).id)).toBe(false);
    } finally {
      await fake.close();
    }
  });
});
