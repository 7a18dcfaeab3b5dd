import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeServer, startFakeServer } from "./fake-server.js";

type Json = Record<string, unknown>;

// Cursor paging of GET /v1/sandboxes (limit, nextToken): real app, fake runtime.
describe("GET /v1/sandboxes paging", () => {
  let fake: FakeServer;
  let clock = Date.parse("2026-12-01T00:00:00Z");
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${fake.server.url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${fake.key}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Json };
  };
  const create = async (metadata: Record<string, string> = {}) => {
    clock += 1000;
    const r = await call("POST", "/v1/sandboxes", { metadata });
    expect(r.status).toBe(201);
    return r.body.id as string;
  };

  beforeAll(async () => {
    fake = await startFakeServer({}, undefined, { now: () => clock });
  });

  afterAll(async () => {
    await fake?.close();
  });

  it("hands out every sandbox once while others are created and deleted between pages", async () => {
    const initial: string[] = [];
    for (let i = 0; i < 9; i++) initial.push(await create({ group: "paging" }));
    const seen: string[] = [];
    const deletedUnseen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const r = await call("GET", `/v1/sandboxes?metadata=group%3Dpaging&limit=2${token ? `&nextToken=${token}` : ""}`);
      expect(r.status).toBe(200);
      const ids = (r.body.sandboxes as { id: string }[]).map((s) => s.id);
      expect(ids.length).toBeLessThanOrEqual(2);
      seen.push(...ids);
      token = r.body.nextToken as string | undefined;
      pages++;
      if (pages === 1) {
        // One already handed out and one not yet seen go; two new ones come.
        expect((await call("DELETE", `/v1/sandboxes/${ids[0]}`)).status).toBe(204);
        const unseen = initial[5] as string;
        expect((await call("DELETE", `/v1/sandboxes/${unseen}`)).status).toBe(204);
        deletedUnseen.push(unseen);
        await create({ group: "paging" });
        await create({ group: "paging" });
      }
    } while (token !== undefined && pages < 20);
    expect(new Set(seen).size).toBe(seen.length); // nothing repeated
    // Nothing skipped: every sandbox that lived through the whole listing was handed out.
    for (const id of initial) if (!deletedUnseen.includes(id)) expect(seen).toContain(id);
    for (const id of deletedUnseen) expect(seen).not.toContain(id);
    // The two created meanwhile sort after every item handed out, so they are on the later pages.
    expect(seen).toHaveLength(8 + 2);
  });

  it("without limit lists everything and no token; bad limits and tokens are 400", async () => {
    const all = await call("GET", "/v1/sandboxes");
    expect(all.status).toBe(200);
    expect(all.body.nextToken).toBeUndefined();
    expect((all.body.sandboxes as unknown[]).length).toBeGreaterThan(2);
    for (const q of ["limit=0", "limit=1001", "limit=abc", "limit=1.5", "nextToken=%25%25"]) {
      const r = await call("GET", `/v1/sandboxes?${q}`);
      expect(r.status, q).toBe(400);
      expect((r.body as { error?: { code?: string } }).error?.code, q).toBe("bad_request");
    }
  });
});
