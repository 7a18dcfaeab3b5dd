import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeServer, startFakeServer } from "./fake-server.js";

// The CORS policy (docs/sdk.md): /v1 sends no CORS headers, so browsers refuse cross-origin calls
// and an API key never has to live in a web page.
describe("CORS", () => {
  let s: FakeServer;
  const origin = "https://app.example.test";

  beforeAll(async () => {
    s = await startFakeServer();
  });

  afterAll(async () => {
    await s?.close();
  });

  it("answers a preflight without allowing the origin", async () => {
    const res = await fetch(`${s.server.url}/v1/sandboxes`, {
      method: "OPTIONS",
      headers: {
        Origin: origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
      },
    });
    await res.arrayBuffer();
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    for (const name of [
      "access-control-allow-origin",
      "access-control-allow-headers",
      "access-control-allow-methods",
    ]) {
      expect(res.headers.get(name), name).toBeNull();
    }
  });

  it("sends no Access-Control-Allow-Origin on an authenticated call from a page", async () => {
    const res = await fetch(`${s.server.url}/v1/sandboxes`, {
      headers: { Origin: origin, Authorization: `Bearer ${s.key}` },
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
  });
});
