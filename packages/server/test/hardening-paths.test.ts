import { chmodSync, mkdirSync, mkdtempSync, statSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeServer, startFakeServer } from "./fake-server.js";

interface RawAnswer {
  status: number;
  body: string;
}

/** One request with the path exactly as given (fetch would normalise `..` and `%2e%2e`). */
function raw(base: string, method: string, path: string, headers: Record<string, string> = {}): Promise<RawAnswer> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method, path, headers }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => {
        body += c.toString();
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

const codeOf = (a: RawAnswer): unknown => (JSON.parse(a.body) as { error?: { code?: string } }).error?.code;

// Component test: paths the server forwards into sandboxes are checked as the sandbox decodes them.
describe("proxy paths, bad encodings and data dir modes", () => {
  let fake: FakeServer;
  let url: string;
  let auth: Record<string, string>;
  let id: string;

  beforeAll(async () => {
    fake = await startFakeServer();
    url = fake.server.url;
    auth = { Authorization: `Bearer ${fake.key}` };
    const res = await fetch(`${url}/v1/sandboxes`, { method: "POST", headers: auth, body: "{}" });
    id = ((await res.json()) as { id: string }).id;
  });

  afterAll(async () => {
    await fake.close();
  });

  it("answers malformed percent-encoding in a path with 400 bad_request and no stack, with or without a key", async () => {
    for (const headers of [auth, {}]) {
      const a = await raw(url, "GET", "/v1/sandboxes/%ZZ", headers);
      expect(a.status).toBe(400);
      expect(codeOf(a)).toBe("bad_request");
      expect(a.body).not.toMatch(/at .*\.js|URIError/);
    }
    const e2b = await raw(url, "GET", "/sandboxes/%E0%A4%A", { "X-API-Key": "x" });
    expect(e2b.status).toBe(400);
  });

  it("refuses /init through the envd passthrough however it is encoded, and non-canonical paths", async () => {
    const base = `/v1/sandboxes/${id}/envd`;
    for (const p of ["/init", "/%69nit", "/%69%6e%69%74", "/INIT", "/init/", "/init?x=1"]) {
      const a = await raw(url, "POST", `${base}${p}`, auth);
      expect({ p, status: a.status, code: codeOf(a) }).toEqual({ p, status: 403, code: "forbidden" });
    }
    for (const p of ["//init", "/files%2Fx", "/%ZZ", "/a%5cinit", "/%00"]) {
      const a = await raw(url, "POST", `${base}${p}`, auth);
      expect({ p, status: a.status, code: codeOf(a) }).toEqual({ p, status: 400, code: "bad_request" });
    }
    // Dot segments (plain or encoded) are resolved before routing: they leave the envd route.
    for (const p of ["/%2e%2e/init", "/x/%2E%2E/%2e%2e/init", "/a/./init"]) {
      const a = await raw(url, "POST", `${base}${p}`, auth);
      expect({ p, status: a.status }).toEqual({ p, status: a.status === 400 ? 400 : 404 });
    }
  });

  it("refuses /init and non-canonical paths on the E2B sandbox plane before waking anything", async () => {
    const plane = { "E2b-Sandbox-Id": id, "E2b-Sandbox-Port": "49983", "X-API-Key": fake.key };
    for (const p of ["/init", "/%69nit", "/init/"]) {
      expect((await raw(url, "POST", p, plane)).status, p).toBe(403);
    }
    for (const p of ["/%2e%2e/init", "//init", "/x%2finit", "/%ZZ"]) {
      const a = await raw(url, "POST", p, plane);
      expect({ p, status: a.status }).toEqual({ p, status: 400 });
      expect((JSON.parse(a.body) as { error?: string }).error).toBe("bad_request");
    }
    // A sandbox's own service (a preview port) gets its path as sent: no agent is behind it.
    const port = { "E2b-Sandbox-Id": id, "E2b-Sandbox-Port": "8080", "X-API-Key": fake.key };
    const passed = await raw(url, "GET", "/a/%2e%2e//b%2Fc", port);
    expect(passed.status).not.toBe(400);
    expect(passed.body).toContain("8080");
  });

  it("answers a CORS preflight to a sleeping sandbox's agent without waking it or counting activity", async () => {
    const paused = await fetch(`${url}/v1/sandboxes/${id}/pause`, { method: "POST", headers: auth });
    expect(((await paused.json()) as { state: string }).state).toBe("standby");
    const before = (await (await fetch(`${url}/v1/sandboxes/${id}`, { headers: auth })).json()) as {
      lastActivityAt: string;
    };
    const a = await raw(url, "OPTIONS", "/process.Process/List", {
      "E2b-Sandbox-Id": id,
      "E2b-Sandbox-Port": "49983",
      Origin: "https://example.com",
      "Access-Control-Request-Method": "POST",
      "Access-Control-Request-Headers": "content-type",
    });
    expect(a.status).toBe(204);
    const after = (await (await fetch(`${url}/v1/sandboxes/${id}`, { headers: auth })).json()) as {
      state: string;
      lastActivityAt: string;
    };
    expect(after.state).toBe("standby");
    expect(after.lastActivityAt).toBe(before.lastActivityAt);
  });

  it("keeps the data dir 0700 and its files 0600, and tightens an existing data dir at start", async () => {
    expect(statSync(fake.dataDir).mode & 0o777).toBe(0o700);
    for (const f of ["burrow.db", "burrow.db-wal", "burrow.db-shm", "network-prefix", "admin-key"]) {
      expect({ f, mode: statSync(join(fake.dataDir, f)).mode & 0o777 }).toEqual({ f, mode: 0o600 });
    }
    const old = mkdtempSync(join(tmpdir(), "burrow-old-"));
    chmodSync(old, 0o755);
    mkdirSync(join(old, "templates", "base", "rootfs"), { recursive: true });
    mkdirSync(join(old, "blobs"), { mode: 0o755 });
    writeFileSync(join(old, "burrow.db"), "", { mode: 0o644 });
    const other = await startFakeServer({}, old);
    try {
      expect(statSync(old).mode & 0o777).toBe(0o700);
      expect(statSync(join(old, "burrow.db")).mode & 0o777).toBe(0o600);
      expect(statSync(join(old, "blobs")).mode & 0o777).toBe(0o700);
      expect(statSync(join(old, "sandboxes")).mode & 0o777).toBe(0o700);
    } finally {
      await other.close();
    }
  });
});
