import { readFileSync, statSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { filesSignature } from "../src/app/e2b/sandbox-plane.js";
import { type FakeServer, startFakeServer } from "./fake-server.js";

interface E2bSandbox {
  sandboxID: string;
  templateID: string;
  clientID: string;
  envdVersion: string;
  envdAccessToken: string;
  domain: string | null;
}
interface Listed {
  sandboxID: string;
  state: string;
  metadata: Record<string, string>;
}
interface Lifecycle {
  standbyAfterMs: number;
  hibernateAfterMs: number;
  deleteAfterMs: number;
}

// Component test: E2B's REST surface and sandbox plane on the real app, with a fake runtime.
describe("E2B-compatible API with a fake runtime", () => {
  let fake: FakeServer;
  let e2bKey: string;
  let url: string;
  /** A stand-in for a service inside a sandbox: the fake runtime's sandboxes all live on 127.0.0.1. */
  let service: Server;
  let servicePort: number;
  const seen: Array<{ headers: Record<string, unknown>; body: string; url: string }> = [];

  const e2b = (method: string, path: string, body?: unknown, key: string | null = e2bKey) =>
    fetch(`${url}${path}`, {
      method,
      headers: { ...(key ? { "X-API-KEY": key } : {}), "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const create = async (body: Record<string, unknown> = {}) => {
    const res = await e2b("POST", "/v2/sandboxes", { templateID: "base", ...body });
    expect(res.status).toBe(201);
    return (await res.json()) as E2bSandbox;
  };
  const burrowLifecycle = async (id: string) =>
    (
      (await (
        await fetch(`${url}/v1/sandboxes/${id}`, { headers: { Authorization: `Bearer ${fake.key}` } })
      ).json()) as { lifecycle: Lifecycle }
    ).lifecycle;
  const plane = (id: string, port: number, path = "/health", init: RequestInit = {}) =>
    fetch(`${url}${path}`, {
      ...init,
      headers: { "E2b-Sandbox-Id": id, "E2b-Sandbox-Port": String(port), ...(init.headers as Record<string, string>) },
    });

  beforeAll(async () => {
    fake = await startFakeServer();
    url = fake.server.url;
    e2bKey = readFileSync(join(fake.dataDir, "e2b-api-key"), "utf8").trim();
    service = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => {
        body += c.toString();
      });
      req.on("end", () => {
        seen.push({ headers: req.headers, body, url: req.url ?? "" });
        res.writeHead(200, { "Content-Type": "text/plain" });
        res.end(`echo:${body}`);
      });
    });
    service.on("upgrade", (_req, socket) => {
      socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n");
      socket.on("data", (d: Buffer) => socket.write(d));
    });
    await new Promise<void>((r) => service.listen(0, "127.0.0.1", () => r()));
    servicePort = (service.address() as AddressInfo).port;
  });

  afterAll(async () => {
    service?.close();
    await fake?.close();
  });

  it("writes an e2b_ key on first start that works on both APIs", async () => {
    expect(e2bKey).toMatch(/^e2b_[0-9a-f]{48}$/);
    expect(statSync(join(fake.dataDir, "e2b-api-key")).mode & 0o777).toBe(0o600);
    expect((await e2b("GET", "/v2/sandboxes")).status).toBe(200);
    expect((await fetch(`${url}/v1/sandboxes`, { headers: { Authorization: `Bearer ${e2bKey}` } })).status).toBe(200);
    expect((await e2b("GET", "/v2/sandboxes", undefined, fake.key)).status).toBe(200);
  });

  it("answers auth failures in E2B's error shape", async () => {
    const missing = await e2b("GET", "/v2/sandboxes", undefined, null);
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ code: 401, message: expect.any(String) });
    expect((await e2b("POST", "/v2/sandboxes", {}, `e2b_${"0".repeat(40)}`)).status).toBe(401);
  });

  it("creates sandboxes with E2B's fields and maps timeout and autoPause onto the policy", async () => {
    const sb = await create({ timeout: 42, metadata: { a: "1" }, envVars: { X: "y" } });
    expect(sb).toMatchObject({ templateID: "base", clientID: "burrow", envdVersion: "0.6.4" });
    expect(sb.sandboxID).toMatch(/^sb_/);
    expect(sb.envdAccessToken).toMatch(/^[0-9a-f]{48}$/);
    expect(sb.domain).toBe(new URL(url).host);
    expect(await burrowLifecycle(sb.sandboxID)).toEqual({
      standbyAfterMs: 0,
      hibernateAfterMs: 600_000,
      deleteAfterMs: 42_000,
    });
    const napper = await create({ timeout: 5, autoPause: true });
    expect(await burrowLifecycle(napper.sandboxID)).toMatchObject({ standbyAfterMs: 5_000, deleteAfterMs: 0 });
    const defaults = await create();
    expect((await burrowLifecycle(defaults.sandboxID)).deleteAfterMs).toBe(300_000);
    const detail = (await (await e2b("GET", `/sandboxes/${napper.sandboxID}`)).json()) as Record<string, unknown>;
    expect(detail).toMatchObject({
      sandboxID: napper.sandboxID,
      state: "running",
      cpuCount: 2,
      memoryMB: 2048,
      lifecycle: { onTimeout: "pause", autoResume: true },
      envdAccessToken: napper.envdAccessToken,
    });
    for (const s of [sb, napper, defaults]) expect((await e2b("DELETE", `/sandboxes/${s.sandboxID}`)).status).toBe(204);
  });

  it("refuses what it cannot honour with a 400 naming it", async () => {
    const res = await e2b("POST", "/v2/sandboxes", { templateID: "base", network: { rules: { "a.test": [] } } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toContain("network.rules");
    const bad = await e2b("POST", "/v2/sandboxes", { templateID: "base", network: { allowOut: ["10.0.0.0/99"] } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toContain("network.allowOut[0]");
    const template = await e2b("POST", "/sandboxes", { templateID: "code-interpreter-v1" });
    expect(template.status).toBe(404);
    expect(((await template.json()) as { message: string }).message).toContain("available: base");
    const fork = await e2b("POST", "/sandboxes/sb_aaaaaaaaaaaaaaaaaaaa/fork", {});
    expect(fork.status).toBe(404);
    expect(await fork.json()).toMatchObject({ code: 404, message: expect.stringContaining("not found") });
    const forks = await e2b("POST", "/sandboxes/sb_aaaaaaaaaaaaaaaaaaaa/fork", { count: 1000 });
    expect(forks.status).toBe(400);
    const sb = await create();
    const badName = await e2b("POST", `/sandboxes/${sb.sandboxID}/snapshots`, { name: "team/Snap" });
    expect(badName.status).toBe(400);
    expect(((await badName.json()) as { message: string }).message).toContain("not a valid name[:tag]");
    const badToken = await e2b("GET", "/snapshots?nextToken=nonsense");
    expect(badToken.status).toBe(400);
    expect((await e2b("DELETE", "/templates/nothing-here:v1")).status).toBe(404);
    expect((await e2b("DELETE", `/sandboxes/${sb.sandboxID}`)).status).toBe(204);
  });

  it("maps allowOut/denyOut and allow_internet_access onto the egress policy, at create and on update", async () => {
    const egressOf = async (id: string) =>
      (
        (await (
          await fetch(`${url}/v1/sandboxes/${id}/network`, { headers: { Authorization: `Bearer ${fake.key}` } })
        ).json()) as { egress: unknown }
      ).egress;
    const sb = await create({ network: { allowOut: ["pypi.org"], denyOut: ["0.0.0.0/0"] } });
    expect(await egressOf(sb.sandboxID)).toEqual({ default: "deny", allow: ["pypi.org"], deny: [] });
    expect((await e2b("PUT", `/sandboxes/${sb.sandboxID}/network`, { denyOut: ["10.0.0.0/8"] })).status).toBe(204);
    expect(await egressOf(sb.sandboxID)).toEqual({ default: "allow", allow: [], deny: ["10.0.0.0/8"] });
    expect((await e2b("PUT", `/sandboxes/${sb.sandboxID}/network`, { allow_internet_access: false })).status).toBe(204);
    expect(await egressOf(sb.sandboxID)).toEqual({ default: "deny", allow: [], deny: [] });
    // Omitting every field clears the rules: everything allowed again.
    expect((await e2b("PUT", `/sandboxes/${sb.sandboxID}/network`, {})).status).toBe(204);
    expect(await egressOf(sb.sandboxID)).toEqual({ default: "allow", allow: [], deny: [] });
    const bad = await e2b("PUT", `/sandboxes/${sb.sandboxID}/network`, { allowOut: ["not a host"] });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toContain("network.allowOut[0]");
    expect((await e2b("PUT", "/sandboxes/sb_aaaaaaaaaaaaaaaaaaaa/network", {})).status).toBe(404);
    expect((await e2b("DELETE", `/sandboxes/${sb.sandboxID}`)).status).toBe(204);
  });

  it("lists with metadata and state filters, in pages", async () => {
    const a = await create({ metadata: { team: "red", "odd key": "x=y&z" } });
    const b = await create({ metadata: { team: "red" } });
    const c = await create({ metadata: { team: "blue" } });
    expect((await e2b("POST", `/sandboxes/${c.sandboxID}/pause`)).status).toBe(204);
    const list = async (query: string) => {
      const res = await e2b("GET", `/v2/sandboxes?${query}`);
      expect(res.status).toBe(200);
      return { items: (await res.json()) as Listed[], next: res.headers.get("x-next-token") };
    };
    const red = await list(`metadata=${encodeURIComponent("team=red")}&order=asc`);
    expect(red.items.map((s) => s.sandboxID)).toEqual([a.sandboxID, b.sandboxID]);
    const inner = `${encodeURIComponent("odd key")}=${encodeURIComponent(encodeURIComponent("x=y&z"))}`;
    expect((await list(`metadata=${encodeURIComponent(inner)}`)).items.map((s) => s.sandboxID)).toEqual([a.sandboxID]);
    expect((await list("state=paused")).items.map((s) => s.sandboxID)).toEqual([c.sandboxID]);
    const first = await list("limit=2&order=asc");
    expect(first.items).toHaveLength(2);
    expect(first.next).toBeTruthy();
    const second = await list(`limit=2&order=asc&nextToken=${first.next}`);
    expect(second.next).toBeNull();
    expect([...first.items, ...second.items].map((s) => s.sandboxID)).toEqual([a.sandboxID, b.sandboxID, c.sandboxID]);
    const legacy = (await (await e2b("GET", "/sandboxes")).json()) as Listed[];
    expect(legacy.map((s) => s.sandboxID)).toEqual([a.sandboxID, b.sandboxID]);
    expect((await e2b("GET", "/v2/sandboxes?state=asleep")).status).toBe(400);
    for (const s of [a, b, c]) await e2b("DELETE", `/sandboxes/${s.sandboxID}`);
  });

  it("pauses, refuses a second pause, and resumes through connect and resume", async () => {
    const sb = await create({ timeout: 30 });
    expect((await e2b("POST", `/sandboxes/${sb.sandboxID}/pause`)).status).toBe(204);
    // While paused, a kill-on-timeout sandbox is not deleted for being idle.
    expect((await burrowLifecycle(sb.sandboxID)).deleteAfterMs).toBe(0);
    const again = await e2b("POST", `/sandboxes/${sb.sandboxID}/pause`);
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ code: 409 });
    const detail = (await (await e2b("GET", `/sandboxes/${sb.sandboxID}`)).json()) as Record<string, unknown>;
    expect(detail).toMatchObject({ state: "paused", lifecycle: { onTimeout: "kill" } });

    const woke = await e2b("POST", `/v2/sandboxes/${sb.sandboxID}/connect`, { timeout: 60 });
    expect(woke.status).toBe(201);
    expect(((await woke.json()) as E2bSandbox).envdAccessToken).toBe(sb.envdAccessToken);
    expect(await burrowLifecycle(sb.sandboxID)).toMatchObject({ standbyAfterMs: 0, deleteAfterMs: 60_000 });
    expect((await e2b("POST", `/sandboxes/${sb.sandboxID}/connect`, { timeout: 10 })).status).toBe(200);
    // connect only extends: 10 s does not shorten 60 s.
    expect((await burrowLifecycle(sb.sandboxID)).deleteAfterMs).toBe(60_000);
    expect((await e2b("POST", `/sandboxes/${sb.sandboxID}/resume`, {})).status).toBe(409);
    await e2b("POST", `/sandboxes/${sb.sandboxID}/pause`);
    expect((await e2b("POST", `/sandboxes/${sb.sandboxID}/resume`, {})).status).toBe(201);

    expect((await e2b("POST", `/sandboxes/${sb.sandboxID}/timeout`, { timeout: 7 })).status).toBe(204);
    expect((await burrowLifecycle(sb.sandboxID)).deleteAfterMs).toBe(7_000);
    expect((await e2b("DELETE", `/sandboxes/${sb.sandboxID}`)).status).toBe(204);
    expect((await e2b("DELETE", `/sandboxes/${sb.sandboxID}`)).status).toBe(404);
    for (const path of ["", "/pause", "/timeout", "/connect"]) {
      const res = await e2b(
        path === "" ? "GET" : "POST",
        `/sandboxes/${sb.sandboxID}${path}`,
        path ? { timeout: 1 } : undefined,
      );
      expect(res.status).toBe(404);
    }
    expect((await e2b("GET", "/sandboxes/not-an-id")).status).toBe(404);
  });

  it("shows Burrow's own sandboxes as pause-on-timeout and never shortens their policy", async () => {
    const res = await fetch(`${url}/v1/sandboxes`, {
      method: "POST",
      headers: { Authorization: `Bearer ${fake.key}` },
      body: JSON.stringify({ lifecycle: { standbyAfterMs: 0 } }),
    });
    const { id } = (await res.json()) as { id: string };
    const detail = (await (await e2b("GET", `/sandboxes/${id}`)).json()) as { endAt: string; lifecycle: unknown };
    expect(detail.lifecycle).toEqual({ onTimeout: "pause", autoResume: true });
    expect(detail.endAt).toMatch(/^9999-/);
    expect((await e2b("POST", `/v2/sandboxes/${id}/connect`, { timeout: 5 })).status).toBe(200);
    expect(await burrowLifecycle(id)).toMatchObject({ standbyAfterMs: 0, deleteAfterMs: 0 });
    expect((await e2b("DELETE", `/sandboxes/${id}`)).status).toBe(204);
  });

  it("routes the sandbox plane: 502 for gone or paused health, 401 without the token", async () => {
    const sb = await create();
    const token = { "X-Access-Token": sb.envdAccessToken };
    // The fake runtime's agent address has nothing listening: a routed, authorised call is a 502.
    expect((await plane(sb.sandboxID, 49983, "/process.Process/List", { method: "POST", headers: token })).status).toBe(
      502,
    );
    expect((await plane(sb.sandboxID, 49983, "/process.Process/List", { method: "POST" })).status).toBe(401);
    // Metrics come from the agent; one that cannot be reached has no sample (and no error).
    expect(await (await e2b("GET", `/sandboxes/${sb.sandboxID}/metrics`)).json()).toEqual([]);
    const many = await e2b("GET", `/sandboxes/metrics?sandbox_ids=${sb.sandboxID},sb_aaaaaaaaaaaaaaaaaaaa`);
    expect(await many.json()).toEqual({ sandboxes: {} });
    const wrong = await plane(sb.sandboxID, 49983, "/files?path=/x", { headers: { "X-Access-Token": "nope" } });
    expect(wrong.status).toBe(401);
    await e2b("POST", `/sandboxes/${sb.sandboxID}/pause`);
    expect((await plane(sb.sandboxID, 49983)).status).toBe(502);
    await e2b("DELETE", `/sandboxes/${sb.sandboxID}`);
    const gone = await plane(sb.sandboxID, 49983);
    expect(gone.status).toBe(502);
    expect(await gone.json()).toMatchObject({ code: 502, sandboxId: sb.sandboxID });
    expect((await plane("sb_aaaaaaaaaaaaaaaaaaaa", 49983)).status).toBe(502);
    // Without the routing headers, /health is the API's own.
    expect((await fetch(`${url}/health`)).status).toBe(200);
  });

  it("routes signed /files URLs by their signature", async () => {
    const sb = await create();
    const signed = new URL(`${url}/files`);
    signed.searchParams.set("path", "/home/user/a.txt");
    signed.searchParams.set("signature", filesSignature("/home/user/a.txt", "read", "", sb.envdAccessToken, null));
    // Routed to the (fake, unreachable) agent: 502, not the 401 of a signature nobody issued.
    expect((await fetch(signed)).status).toBe(502);
    signed.searchParams.set("signature", "v1_nobody");
    expect((await fetch(signed)).status).toBe(401);
    await e2b("DELETE", `/sandboxes/${sb.sandboxID}`);
  });

  it("forwards requests for other ports with the client's Host and without Burrow's credentials", async () => {
    const sb = await create();
    const res = await plane(sb.sandboxID, servicePort, "/app?q=1", {
      method: "POST",
      body: "hello",
      headers: { "X-Access-Token": sb.envdAccessToken, "X-API-KEY": e2bKey, "X-Custom": "kept" },
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("echo:hello");
    const got = seen.at(-1);
    expect(got?.url).toBe("/app?q=1");
    expect(got?.headers).toMatchObject({ "x-custom": "kept", host: new URL(url).host, "x-forwarded-for": "127.0.0.1" });
    for (const h of ["x-access-token", "x-api-key", "e2b-sandbox-id", "e2b-sandbox-port"]) {
      expect(got?.headers).not.toHaveProperty(h);
    }
    // The same sandbox port by Host name, as `sandbox.getHost(port)` builds it.
    const byHost = await new Promise<number>((resolve, reject) => {
      const req = request(`${url}/`, { headers: { Host: `${servicePort}-${sb.sandboxID}.localhost` } }, (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      });
      req.on("error", reject);
      req.end();
    });
    expect(byHost).toBe(200);
    const echoed = await new Promise<string>((resolve, reject) => {
      const req = request(`${url}/ws`, {
        headers: {
          "E2b-Sandbox-Id": sb.sandboxID,
          "E2b-Sandbox-Port": String(servicePort),
          Connection: "Upgrade",
          Upgrade: "echo",
        },
      });
      req.on("upgrade", (_res, socket) => {
        socket.once("data", (d: Buffer) => {
          socket.destroy();
          resolve(d.toString());
        });
        socket.write("ping");
      });
      req.on("error", reject);
      req.end();
    });
    expect(echoed).toBe("ping");
    await e2b("DELETE", `/sandboxes/${sb.sandboxID}`);
  });
});
