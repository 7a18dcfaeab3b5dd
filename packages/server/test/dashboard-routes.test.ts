import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuthenticationError, type SandboxEventMessage, watchEvents } from "@burrow/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeServer, startFakeServer } from "./fake-server.js";

// The two server additions the dashboard needs: the live event stream and the static assets.
describe("dashboard routes", () => {
  let fake: FakeServer;
  let assets: string;

  const call = (method: string, path: string, body?: unknown) =>
    fetch(`${fake.server.url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${fake.key}`, "Content-Type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  beforeAll(async () => {
    assets = mkdtempSync(join(tmpdir(), "burrow-dash-"));
    mkdirSync(join(assets, "assets"));
    writeFileSync(join(assets, "index.html"), "<!doctype html><title>Burrow</title>");
    writeFileSync(join(assets, "assets", "app-1234.js"), "console.log(1)");
    fake = await startFakeServer({ dashboardDir: assets });
  });

  afterAll(async () => {
    await fake?.close();
    rmSync(assets, { recursive: true, force: true });
  });

  it("streams lifecycle events with the sandbox's new state as they happen", async () => {
    const controller = new AbortController();
    const messages: SandboxEventMessage[] = [];
    let opened!: () => void;
    const open = new Promise<void>((resolve) => {
      opened = resolve;
    });
    let sawStandby!: () => void;
    const standby = new Promise<void>((resolve) => {
      sawStandby = resolve;
    });
    const done = watchEvents({
      apiUrl: fake.server.url,
      apiKey: fake.key,
      signal: controller.signal,
      onOpen: opened,
      onMessage: (m) => {
        messages.push(m);
        if (m.event.type === "standby") sawStandby();
      },
    });
    try {
      await open;
      const created = (await (await call("POST", "/v1/sandboxes", {})).json()) as { id: string };
      expect((await call("POST", `/v1/sandboxes/${created.id}/pause`)).status).toBe(200);
      await standby;
      const mine = messages.filter((m) => m.event.sandboxId === created.id);
      expect(mine.map((m) => m.event.type)).toContain("standby");
      const last = mine.at(-1);
      expect(last?.sandbox?.state).toBe("standby");
      expect(last?.event.id).toBeGreaterThan(0);
      expect((await call("DELETE", `/v1/sandboxes/${created.id}`)).status).toBe(204);
    } finally {
      controller.abort();
      await done;
    }
  });

  it("refuses the stream without a valid key", async () => {
    const res = await fetch(`${fake.server.url}/v1/events`);
    expect(res.status).toBe(401);
    await res.arrayBuffer();
    await expect(
      watchEvents({ apiUrl: fake.server.url, apiKey: "burrow_wrong", onMessage: () => undefined }),
    ).rejects.toBeInstanceOf(AuthenticationError);
  });

  it("serves the dashboard at / and its assets, without a key", async () => {
    const index = await fetch(`${fake.server.url}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toContain("text/html");
    expect(await index.text()).toContain("<title>Burrow</title>");
    expect(index.headers.get("content-security-policy")).toContain("connect-src 'self'");
    const js = await fetch(`${fake.server.url}/assets/app-1234.js`);
    expect(js.headers.get("content-type")).toContain("text/javascript");
    expect(await js.text()).toBe("console.log(1)");
  });

  it("ends open streams when the server shuts down", async () => {
    const other = await startFakeServer();
    let closed = false;
    try {
      let opened!: () => void;
      const open = new Promise<void>((resolve) => {
        opened = resolve;
      });
      const done = watchEvents({
        apiUrl: other.server.url,
        apiKey: other.key,
        onOpen: opened,
        onMessage: () => undefined,
      });
      await open;
      await other.close();
      closed = true;
      // Ended by the server (resolves), not cut off after the listener's grace period (rejects).
      await expect(done).resolves.toBeUndefined();
    } finally {
      if (!closed) await other.close();
    }
  });

  it("answers 404 for files outside the dashboard and unknown API paths", async () => {
    for (const path of ["/assets/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/nope.js", "/v1/nope"]) {
      const res = await fetch(`${fake.server.url}${path}`);
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code, path).toBe("not_found");
    }
    const post = await fetch(`${fake.server.url}/`, { method: "POST" });
    expect(post.status).toBe(404);
    await post.arrayBuffer();
  });
});
