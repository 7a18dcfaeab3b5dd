import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

  /** Opens `GET /v1/events` on `url`; `next()` reads until the text so far matches `until`. */
  async function openStream(url: string, key: string) {
    const res = await fetch(`${url}/v1/events`, { headers: { Authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = "";
    return {
      reader,
      async next(until: RegExp): Promise<string> {
        while (!until.test(text)) {
          const { done, value } = await reader.read();
          if (done) throw new Error(`stream ended before ${until}: ${text}`);
          text += decoder.decode(value, { stream: true });
        }
        return text;
      },
    };
  }

  it("streams lifecycle events with the sandbox's new state as they happen", async () => {
    const stream = await openStream(fake.server.url, fake.key);
    try {
      await stream.next(/^: connected\n\n/);
      const created = (await (await call("POST", "/v1/sandboxes", {})).json()) as { id: string };
      expect((await call("POST", `/v1/sandboxes/${created.id}/pause`)).status).toBe(200);
      const text = await stream.next(/"type":"standby"[^\n]*\n\n/);
      const messages = text
        .split("\n\n")
        .filter((block) => block.startsWith("id: "))
        .map((block) => {
          const [id, event, data] = block.split("\n");
          expect(event).toBe("event: sandbox");
          const message = JSON.parse((data as string).slice("data: ".length)) as {
            event: { id: number; type: string; sandboxId: string };
            sandbox: { state: string } | null;
          };
          expect(id).toBe(`id: ${message.event.id}`);
          return message;
        });
      const standby = messages.find((m) => m.event.type === "standby");
      expect(standby?.event.sandboxId).toBe(created.id);
      expect(standby?.sandbox?.state).toBe("standby");
      expect(messages.map((m) => m.event.type)).toContain("created");
      expect((await call("DELETE", `/v1/sandboxes/${created.id}`)).status).toBe(204);
      await stream.next(/"type":"deleted"[^\n]*"sandbox":null\}\n\n/);
    } finally {
      await stream.reader.cancel();
    }
  });

  it("refuses the stream without a valid key", async () => {
    const attempts: Array<Record<string, string>> = [{}, { Authorization: "Bearer burrow_wrong" }];
    for (const headers of attempts) {
      const res = await fetch(`${fake.server.url}/v1/events`, { headers });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
    }
  });

  it("ends open streams when the server shuts down", async () => {
    const other = await startFakeServer();
    let closed = false;
    try {
      const stream = await openStream(other.server.url, other.key);
      await stream.next(/^: connected\n\n/);
      await other.close();
      closed = true;
      // Ended by the server (a clean end), not cut off after the listener's grace period (an error).
      expect((await stream.reader.read()).done).toBe(true);
    } finally {
      if (!closed) await other.close();
    }
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
