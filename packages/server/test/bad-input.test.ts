import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeServer, startFakeServer } from "./fake-server.js";

/** One request with the path exactly as given; resolves to the status and body. */
function raw(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method, path, headers }, (res) => {
      // An event stream (GET /v1/events, also reached as /v1/sandboxes/%2e%2e/events) never ends.
      if (res.headers["content-type"]?.startsWith("text/event-stream")) {
        res.destroy();
        resolve({ status: res.statusCode ?? 0, body: "" });
        return;
      }
      let text = "";
      res.on("data", (c: Buffer) => {
        text += c.toString();
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const PARAMS = ["%ZZ", "%E0%A4%A", "sb_%00", "x".repeat(3000), "sb_aaaaaaaaaaaaaaaaaaaa", "%2e%2e"];
const BODIES = ["{", "[]", "null", '"x"', "1e999", '{"a":', '{"__proto__":{"x":1}}', "\u0000"];

// Component test: every route the server serves answers bad input with a 4xx, never a 500.
describe("bad input on every route", () => {
  let fake: FakeServer;
  let headers: Record<string, string>;
  let id: string;

  beforeAll(async () => {
    fake = await startFakeServer();
    headers = { Authorization: `Bearer ${fake.key}`, "Content-Type": "application/json" };
    const res = await fetch(`${fake.server.url}/v1/sandboxes`, { method: "POST", headers, body: "{}" });
    id = ((await res.json()) as { id: string }).id;
  });

  afterAll(async () => {
    await fake.close();
  });

  it("answers malformed ids, encodings and bodies with 4xx on each route", async () => {
    const failures: string[] = [];
    // Deletes last, so the other routes meet a live sandbox under the real id.
    const routes = fake.server.routes().sort((a, b) => Number(a.method === "DELETE") - Number(b.method === "DELETE"));
    for (const route of routes) {
      const methods = route.method === "*" ? ["GET", "POST"] : [route.method];
      for (const method of methods) {
        for (const param of [id, ...PARAMS]) {
          const path = route.path.replace(/:\w+/g, param).replace("*", "x");
          for (const body of method === "GET" || method === "DELETE" ? [undefined] : BODIES) {
            const res = await raw(fake.server.url, method, path, headers, body);
            if (res.status >= 500 && res.status !== 502 && res.status !== 503) {
              failures.push(
                `${method} ${path.slice(0, 80)} ${JSON.stringify(body)} → ${res.status} ${res.body.slice(0, 120)}`,
              );
            }
          }
        }
      }
    }
    expect(failures).toEqual([]);
  });
});
