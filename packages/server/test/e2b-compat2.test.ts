import { readFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeServer, startFakeServer } from "./fake-server.js";

// Component test of E2B compatibility round two (#13) on the real app with a fake runtime.
describe("E2B compatibility round two, with a fake runtime", () => {
  let fake: FakeServer;
  let key: string;
  let url: string;
  let service: Server;
  let servicePort: number;
  const seen: IncomingHttpHeaders[] = [];
  const e2b = (method: string, path: string, body?: unknown) =>
    fetch(`${url}${path}`, {
      method,
      headers: { "X-API-KEY": key, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const create = async (body: Record<string, unknown> = {}) => {
    const res = await e2b("POST", "/v2/sandboxes", { templateID: "base", ...body });
    expect(res.status).toBe(201);
    return (await res.json()) as { sandboxID: string; trafficAccessToken: string | null };
  };
  const endAt = async (id: string) =>
    ((await (await e2b("GET", `/sandboxes/${id}`)).json()) as { endAt: string }).endAt;

  beforeAll(async () => {
    fake = await startFakeServer();
    url = fake.server.url;
    key = readFileSync(join(fake.dataDir, "e2b-api-key"), "utf8").trim();
    service = createServer((req, res) => {
      seen.push(req.headers);
      res.end("ok");
    });
    await new Promise<void>((r) => service.listen(0, "127.0.0.1", () => r()));
    servicePort = (service.address() as AddressInfo).port;
  });

  afterAll(async () => {
    service?.close();
    await fake?.close();
  });

  it("answers unknown routes under E2B's API paths in E2B's shape, and Burrow's own in Burrow's", async () => {
    for (const path of ["/sandboxes/x/y/z", "/v2/nothing", "/v3/templates/x", "/snapshots/x/y", "/teams"]) {
      const res = await e2b("GET", path);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ code: 404, message: expect.stringContaining("Burrow does not serve") });
    }
    const burrow = await fetch(`${url}/v1/nothing`, { headers: { Authorization: `Bearer ${fake.key}` } });
    expect(((await burrow.json()) as { error: { code: string } }).error.code).toBe("not_found");
  });

  it("connect with a shorter timeout leaves endAt alone; a longer one moves it", async () => {
    const { sandboxID } = await create({ timeout: 300 });
    const before = await endAt(sandboxID);
    await new Promise((r) => setTimeout(r, 20));
    expect((await e2b("POST", `/v2/sandboxes/${sandboxID}/connect`, { timeout: 10 })).status).toBe(200);
    expect(await endAt(sandboxID)).toBe(before);
    expect((await e2b("POST", `/v2/sandboxes/${sandboxID}/connect`, { timeout: 600 })).status).toBe(200);
    expect(Date.parse(await endAt(sandboxID)) - Date.parse(before)).toBeGreaterThan(290_000);
  });

  it("allowPublicTraffic: false wants the traffic token on other ports; maskRequestHost sets Host", async () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: E2B's literal placeholder
    const sb = await create({ network: { allowPublicTraffic: false, maskRequestHost: "svc-${PORT}.internal" } });
    expect(sb.trafficAccessToken).toMatch(/^e2b_tat_[0-9a-f]{48}$/);
    const port = { "E2b-Sandbox-Id": sb.sandboxID, "E2b-Sandbox-Port": String(servicePort) };
    const refused = await fetch(`${url}/`, { headers: port });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ code: 403, error: "traffic_token_required" });
    const ok = await fetch(`${url}/`, {
      headers: { ...port, "e2b-traffic-access-token": sb.trafficAccessToken ?? "" },
    });
    expect(ok.status).toBe(200);
    const last = seen[seen.length - 1];
    expect(last?.host).toBe(`svc-${servicePort}.internal`);
    expect(last?.["e2b-traffic-access-token"]).toBeUndefined();
    const connected = await e2b("POST", `/v2/sandboxes/${sb.sandboxID}/connect`, {});
    expect(((await connected.json()) as { trafficAccessToken: string }).trafficAccessToken).toBe(sb.trafficAccessToken);
    // Ports of a sandbox created without it stay public.
    const open = await create();
    expect(open.trafficAccessToken).toBeNull();
    const publicRes = await fetch(`${url}/`, {
      headers: { "E2b-Sandbox-Id": open.sandboxID, "E2b-Sandbox-Port": String(servicePort) },
    });
    expect(publicRes.status).toBe(200);
    expect((await e2b("POST", "/v2/sandboxes", { network: { maskRequestHost: "a b" } })).status).toBe(400);
  });
});
