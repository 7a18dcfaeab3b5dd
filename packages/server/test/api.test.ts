import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FakeRuntime } from "@burrow/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../src/server.js";
import { openDb } from "../src/store/db.js";
import { type FakeServer, startFakeServer } from "./fake-server.js";

// Component test: the real HTTP app and SQLite store, with an in-memory runtime.
describe("REST API with a fake runtime", () => {
  let fake: FakeServer;
  let server: RunningServer;
  let key: string;
  let runtime: FakeRuntime;

  const call = (method: string, path: string, body?: unknown, auth = true) =>
    fetch(`${server.url}${path}`, {
      method,
      headers: {
        ...(auth ? { Authorization: `Bearer ${key}` } : {}),
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });

  beforeAll(async () => {
    fake = await startFakeServer();
    ({ server, key, runtime } = fake);
  });

  afterAll(async () => {
    await fake.close();
  });

  it("answers health without a key and writes the admin key 0600", async () => {
    const res = await call("GET", "/v1/health", undefined, false);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "ok" });
    expect(statSync(server.adminKeyPath).mode & 0o777).toBe(0o600);
    expect(key).toMatch(/^burrow_[0-9a-f]{48}$/);
  });

  it("serves an OpenAPI document listing the sandbox routes", async () => {
    const doc = (await (await call("GET", "/v1/openapi.json", undefined, false)).json()) as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/v1/sandboxes", "/v1/sandboxes/{id}"]));
  });

  it("describes every /v1 route it serves in the OpenAPI document", async () => {
    const doc = (await (await call("GET", "/v1/openapi.json", undefined, false)).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const served = server.routes().filter((r) => r.path.startsWith("/v1/") && !r.path.includes("*"));
    expect(served.map((r) => r.path)).toContain("/v1/secrets/:name");
    const missing = served
      .map((r) => ({ method: r.method.toLowerCase(), path: r.path.replace(/:(\w+)/g, "{$1}") }))
      .filter((r) => doc.paths[r.path]?.[r.method] === undefined)
      .map((r) => `${r.method} ${r.path}`);
    expect(missing).toEqual([]);
  });

  it("rejects missing and wrong keys with 401 unauthorized", async () => {
    const missing = await call("GET", "/v1/sandboxes", undefined, false);
    expect(missing.status).toBe(401);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
    const wrong = await fetch(`${server.url}/v1/sandboxes`, { headers: { "X-API-Key": "burrow_nope" } });
    expect(wrong.status).toBe(401);
    const viaHeader = await fetch(`${server.url}/v1/sandboxes`, { headers: { "X-API-Key": key } });
    expect(viaHeader.status).toBe(200);
  });

  it("creates, gets, filters and deletes sandboxes", async () => {
    const res = await call("POST", "/v1/sandboxes", { metadata: { team: "a" }, resources: { memoryMb: 512 } });
    expect(res.status).toBe(201);
    const sb = (await res.json()) as { id: string; state: string; resources: { memoryMb: number; vcpus: number } };
    expect(sb.id).toMatch(/^sb_[a-z2-7]{20}$/);
    expect(sb.state).toBe("running");
    expect(sb.resources).toMatchObject({ memoryMb: 512, vcpus: 2 });
    expect(runtime.sandboxes.get(sb.id)?.spec.resources.memoryMb).toBe(512);

    const other = (await (await call("POST", "/v1/sandboxes", { metadata: { team: "b" } })).json()) as { id: string };
    const filtered = (await (await call("GET", `/v1/sandboxes?metadata=${encodeURIComponent("team=a")}`)).json()) as {
      sandboxes: Array<{ id: string }>;
    };
    expect(filtered.sandboxes.map((s) => s.id)).toEqual([sb.id]);

    expect((await call("GET", `/v1/sandboxes/${sb.id}`)).status).toBe(200);
    expect((await call("DELETE", `/v1/sandboxes/${sb.id}`)).status).toBe(204);
    expect(runtime.sandboxes.has(sb.id)).toBe(false);
    const again = await call("DELETE", `/v1/sandboxes/${sb.id}`);
    expect(again.status).toBe(404);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe("sandbox_not_found");
    expect((await call("DELETE", `/v1/sandboxes/${other.id}`)).status).toBe(204);
  });

  it("answers bad input with 4xx and a stable code naming the field", async () => {
    const badJson = await call("POST", "/v1/sandboxes", "{not json");
    expect(badJson.status).toBe(400);
    expect(((await badJson.json()) as { error: { code: string } }).error.code).toBe("bad_request");

    const badField = await call("POST", "/v1/sandboxes", { resources: { memoryMb: "lots" } });
    expect(badField.status).toBe(400);
    const body = (await badField.json()) as { error: { code: string; details: { field: string } } };
    expect(body.error.code).toBe("validation_failed");
    expect(body.error.details.field).toBe("resources.memoryMb");

    const unknownField = await call("POST", "/v1/sandboxes", { tempalte: "base" });
    expect(unknownField.status).toBe(400);

    const noTemplate = await call("POST", "/v1/sandboxes", { template: "pyhton" });
    expect(noTemplate.status).toBe(404);
    const t = (await noTemplate.json()) as { error: { code: string; message: string } };
    expect(t.error.code).toBe("template_not_found");
    expect(t.error.message).toContain("available: base");

    expect((await call("GET", "/v1/sandboxes/not-an-id")).status).toBe(404);
    expect((await call("GET", "/v1/nothing")).status).toBe(404);
    expect((await call("PUT", "/v1/sandboxes")).status).toBe(400);
  });

  it("refuses client calls to the agent's /init, which only the server may make", async () => {
    const sb = (await (await call("POST", "/v1/sandboxes", {})).json()) as { id: string };
    for (const path of ["init", "init/", "init?x=1", "%69nit"]) {
      const res = await call("POST", `/v1/sandboxes/${sb.id}/envd/${path}`, { accessToken: "x" });
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("forbidden");
    }
    expect((await call("DELETE", `/v1/sandboxes/${sb.id}`)).status).toBe(204);
  });

  it("marks a sandbox whose runtime died as error, refuses envd calls, and still deletes it", async () => {
    const sb = (await (await call("POST", "/v1/sandboxes", {})).json()) as { id: string };
    runtime.kill(sb.id);
    const envd = await call("POST", `/v1/sandboxes/${sb.id}/envd/process.Process/List`, {});
    expect(envd.status).toBe(409);
    const info = (await (await call("GET", `/v1/sandboxes/${sb.id}`)).json()) as { state: string; error: string };
    expect(info.state).toBe("error");
    expect(info.error).toMatch(/exited unexpectedly/);
    expect((await call("DELETE", `/v1/sandboxes/${sb.id}`)).status).toBe(204);
  });

  it("reports a runtime failure at create as runtime_failed and keeps the failed sandbox visible", async () => {
    runtime.failNextCreate = "runsc run failed (exit 128): boom";
    const res = await call("POST", "/v1/sandboxes", { metadata: { case: "fail" } });
    expect(res.status).toBe(500);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("runtime_failed");
    const list = (await (await call("GET", `/v1/sandboxes?metadata=${encodeURIComponent("case=fail")}`)).json()) as {
      sandboxes: Array<{ id: string; state: string; error: string }>;
    };
    expect(list.sandboxes).toHaveLength(1);
    expect(list.sandboxes[0]?.state).toBe("error");
    expect(list.sandboxes[0]?.error).toContain("boom");
  });
});

describe("reconciliation at start", () => {
  it("fails creates that a crash interrupted and finishes interrupted deletes", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "burrow-reconcile-"));
    const db = openDb(join(dataDir, "burrow.db"));
    const row = (id: string, state: string, index: number) =>
      db
        .prepare(
          `INSERT INTO sandboxes (id, template, state, metadata, env, resources, agent_token, net_index, error, created_at, updated_at)
           VALUES (?, 'base', ?, '{}', '{}', '{"vcpus":1,"memoryMb":512,"pids":100}', 't', ?, NULL, '2026-01-01', '2026-01-01')`,
        )
        .run(id, state, index);
    row("sb_aaaaaaaaaaaaaaaaaaaa", "starting", 0);
    row("sb_bbbbbbbbbbbbbbbbbbbb", "deleting", 1);
    db.close();
    const fake = await startFakeServer({}, dataDir);
    try {
      const get = (id: string) =>
        fetch(`${fake.server.url}/v1/sandboxes/${id}`, { headers: { Authorization: `Bearer ${fake.key}` } });
      const started = (await (await get("sb_aaaaaaaaaaaaaaaaaaaa")).json()) as { state: string; error: string };
      expect(started.state).toBe("error");
      expect(started.error).toMatch(/interrupted/);
      expect((await get("sb_bbbbbbbbbbbbbbbbbbbb")).status).toBe(404);
    } finally {
      await fake.close();
    }
  });
});
