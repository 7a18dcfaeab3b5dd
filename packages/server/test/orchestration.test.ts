import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FakeRuntime, type SandboxSpec } from "@burrow/runtime";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeServer, startFakeServer } from "./fake-server.js";

// Component tests of sandbox orchestration: every way a sandbox is created or deleted (REST,
// E2B API, lifecycle timer, fork, fork rollback) leaves no rows behind. Real app, fake runtime.

type Json = Record<string, unknown>;

function client(fake: FakeServer) {
  const e2bKey = readFileSync(join(fake.dataDir, "e2b-api-key"), "utf8").trim();
  const call = async (method: string, path: string, body?: unknown, e2b = false) => {
    const res = await fetch(`${fake.server.url}${path}`, {
      method,
      headers: {
        ...(e2b ? { "X-API-KEY": e2bKey } : { Authorization: `Bearer ${fake.key}` }),
        "Content-Type": "application/json",
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Json };
  };
  return call;
}

/** Rows other services keep for sandbox `id`, read from the server's database. */
function rowsOf(dataDir: string, id: string): Record<string, number> {
  const db = new Database(join(dataDir, "burrow.db"), { readonly: true });
  try {
    const count = (table: string) =>
      db.prepare(`SELECT COUNT(*) FROM ${table} WHERE sandbox_id = ?`).pluck().get(id) as number;
    return {
      egress: count("sandbox_egress"),
      secrets: count("sandbox_secrets"),
      previews: count("previews"),
      e2b: count("e2b_sandboxes"),
    };
  } finally {
    db.close();
  }
}

const NONE = { egress: 0, secrets: 0, previews: 0, e2b: 0 };
const SETTINGS = {
  network: {
    egress: { default: "deny", allow: ["api.example.test"] },
    secrets: [{ name: "ORCH_TOKEN", hosts: ["api.example.test"] }],
  },
};

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe("one create and delete for every path", () => {
  let fake: FakeServer;
  let call: ReturnType<typeof client>;
  let clock = Date.now();

  /** A sandbox with an egress policy, a secret binding and a preview; checks they are stored. */
  const withRows = async (extra: Json = {}) => {
    const created = await call("POST", "/v1/sandboxes", { ...SETTINGS, ...extra });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect((await call("POST", `/v1/sandboxes/${id}/previews`, { port: 3000 })).status).toBe(201);
    expect(rowsOf(fake.dataDir, id)).toMatchObject({ egress: 1, secrets: 1, previews: 1 });
    return id;
  };

  beforeAll(async () => {
    fake = await startFakeServer({ lifecycleTickMs: 20 }, undefined, { now: () => clock });
    call = client(fake);
    expect((await call("POST", "/v1/secrets", { name: "ORCH_TOKEN", value: "s3cret" })).status).toBe(201);
  });

  afterAll(async () => {
    await fake.close();
  });

  it("REST delete drops the sandbox's egress policy, secret bindings and previews", async () => {
    const id = await withRows();
    expect((await call("DELETE", `/v1/sandboxes/${id}`)).status).toBe(204);
    expect(rowsOf(fake.dataDir, id)).toEqual(NONE);
  });

  it("E2B delete drops the same rows, and its own", async () => {
    const id = await withRows();
    expect((await call("DELETE", `/sandboxes/${id}`, undefined, true)).status).toBe(204);
    expect(rowsOf(fake.dataDir, id)).toEqual(NONE);
    // Created through the E2B API (policy and on-timeout row), deleted through REST.
    const e2b = await call("POST", "/sandboxes", { templateID: "base", allow_internet_access: false }, true);
    expect(e2b.status).toBe(201);
    const e2bId = e2b.body.sandboxID as string;
    expect(rowsOf(fake.dataDir, e2bId)).toMatchObject({ egress: 1, e2b: 1 });
    expect((await call("DELETE", `/v1/sandboxes/${e2bId}`)).status).toBe(204);
    expect(rowsOf(fake.dataDir, e2bId)).toEqual(NONE);
  });

  it("the deleteAfterMs timer drops them too", async () => {
    const id = await withRows({ lifecycle: { deleteAfterMs: 60_000, standbyAfterMs: 0 } });
    clock += 61_000;
    await until(async () => (await call("GET", `/v1/sandboxes/${id}`)).status === 404, "the timer's delete");
    expect(rowsOf(fake.dataDir, id)).toEqual(NONE);
  });

  it("a create whose policy cannot be applied is deleted again, rows and all", async () => {
    const failing = fake.runtime;
    const original = failing.setEgress.bind(failing);
    let createdId = "";
    failing.setEgress = async (id) => {
      createdId = id;
      throw new Error("iptables refused the chain");
    };
    try {
      const res = await call("POST", "/v1/sandboxes", SETTINGS);
      expect(res.status).toBe(500);
    } finally {
      failing.setEgress = original;
    }
    expect(createdId).toMatch(/^sb_/);
    expect(rowsOf(fake.dataDir, createdId)).toEqual(NONE);
    expect((await call("GET", `/v1/sandboxes/${createdId}`)).status).toBe(404);
    expect(fake.runtime.sandboxes.has(createdId)).toBe(false);
  });
});

describe("rows left by earlier releases", () => {
  it("are dropped at start when their sandbox is deleted or unknown", async () => {
    let fake = await startFakeServer();
    const dataDir = fake.dataDir;
    let call = client(fake);
    await call("POST", "/v1/secrets", { name: "ORCH_TOKEN", value: "s3cret" });
    const kept = (await call("POST", "/v1/sandboxes", SETTINGS)).body.id as string;
    const leaked = (await call("POST", "/v1/sandboxes", SETTINGS)).body.id as string;
    await call("POST", `/v1/sandboxes/${leaked}/previews`, { port: 3000 });
    await fake.server.close();
    // What an E2B or timer delete of an earlier release left: the sandbox deleted, its rows not.
    const db = new Database(join(dataDir, "burrow.db"));
    db.prepare("UPDATE sandboxes SET state = 'deleted' WHERE id = ?").run(leaked);
    db.prepare("INSERT INTO e2b_sandboxes (sandbox_id, on_timeout) VALUES (?, 'kill')").run("sb_unknownunknownunkno");
    db.close();
    expect(rowsOf(dataDir, leaked)).toMatchObject({ egress: 1, secrets: 1, previews: 1 });
    fake = await startFakeServer({}, dataDir);
    call = client(fake);
    try {
      expect(rowsOf(dataDir, leaked)).toEqual(NONE);
      expect(rowsOf(dataDir, "sb_unknownunknownunkno")).toEqual(NONE);
      expect(rowsOf(dataDir, kept)).toMatchObject({ egress: 1, secrets: 1 });
    } finally {
      await fake.close();
    }
  });
});

/** A fake runtime whose `hold`-th next create never finishes (a server stopped in mid-create). */
class StallingRuntime extends FakeRuntime {
  creates = 0;
  stallAt = 0;

  override async create(spec: SandboxSpec): Promise<void> {
    this.creates++;
    if (this.creates === this.stallAt) await new Promise<never>(() => undefined);
    return super.create(spec);
  }
}

describe("forks", () => {
  let dataDir = "";
  let fake: FakeServer;
  let call: ReturnType<typeof client>;
  const runtime = new StallingRuntime();

  /** A sandbox with a file in its layer, an egress policy and a binding, and a stored checkpoint of it. */
  const source = async () => {
    const id = (await call("POST", "/v1/sandboxes", SETTINGS)).body.id as string;
    mkdirSync(runtime.upperDir(id), { recursive: true });
    writeFileSync(join(runtime.upperDir(id), "notes.txt"), "hello");
    const ck = await call("POST", `/v1/sandboxes/${id}/checkpoints`, { wait: true });
    expect(ck.status).toBe(201);
    return { id, cid: ck.body.id as string };
  };
  const liveIds = async () =>
    ((await call("GET", "/v1/sandboxes")).body.sandboxes as Array<{ id: string; state: string }>).map((s) => s.id);

  beforeAll(async () => {
    fake = await startFakeServer({}, undefined, { runtime });
    dataDir = fake.dataDir;
    call = client(fake);
    await call("POST", "/v1/secrets", { name: "ORCH_TOKEN", value: "s3cret" });
  });

  afterAll(async () => {
    await fake.close();
  });

  it("forks get their source's settings; a failed fork deletes every sandbox it made, the failed one too", async () => {
    const { id, cid } = await source();
    const ok = await call("POST", `/v1/sandboxes/${id}/checkpoints/${cid}/fork`, { count: 2 });
    expect(ok.status).toBe(201);
    for (const forkId of ok.body.sandboxIds as string[]) {
      expect(rowsOf(dataDir, forkId)).toMatchObject({ egress: 1, secrets: 1 });
    }
    const before = runtime.creates;
    const rowsBefore = new Set(await liveIds());
    runtime.failNextCreate = "no room for another sandbox";
    const failed = await call("POST", `/v1/sandboxes/${id}/checkpoints/${cid}/fork`, { count: 3 });
    expect(failed.status).toBe(500);
    expect(runtime.creates - before).toBeGreaterThanOrEqual(1);
    // No sandbox of the failed call is left, running or in error.
    expect(new Set(await liveIds())).toEqual(rowsBefore);
    const db = new Database(join(dataDir, "burrow.db"), { readonly: true });
    const leftovers = db
      .prepare("SELECT id FROM sandboxes WHERE state != 'deleted' AND pool IS NOT NULL")
      .pluck()
      .all() as string[];
    const orphanRows = db
      .prepare(
        "SELECT COUNT(*) FROM sandbox_egress WHERE sandbox_id NOT IN (SELECT id FROM sandboxes WHERE state != 'deleted')",
      )
      .pluck()
      .get() as number;
    db.close();
    expect(leftovers).toEqual([]);
    expect(orphanRows).toBe(0);
  });

  it("a fork interrupted by a server stop is deleted at the next start: its caller never got the ids", async () => {
    const { id, cid } = await source();
    runtime.stallAt = runtime.creates + 3;
    // The call never answers: the third fork's start hangs until the server is gone.
    const pending = call("POST", `/v1/sandboxes/${id}/checkpoints/${cid}/fork`, { count: 3 }).catch(() => undefined);
    await until(async () => runtime.creates >= runtime.stallAt, "three fork starts");
    const db = new Database(join(dataDir, "burrow.db"), { readonly: true });
    const forkIds = db
      .prepare("SELECT id FROM sandboxes WHERE pool IS NOT NULL AND state != 'deleted'")
      .pluck()
      .all() as string[];
    db.close();
    expect(forkIds).toHaveLength(3);
    // Hidden while the fork runs: two of them already run, but nobody can see them.
    for (const forkId of forkIds) expect((await call("GET", `/v1/sandboxes/${forkId}`)).status).toBe(404);
    expect(forkIds.filter((f) => runtime.sandboxes.has(f))).toHaveLength(2);

    // A stop (as after a crash, the database still says "fork in progress"), then a start on the same data.
    await fake.server.close();
    void pending;
    fake = await startFakeServer({}, dataDir, { runtime });
    call = client(fake);
    for (const forkId of forkIds) {
      expect((await call("GET", `/v1/sandboxes/${forkId}`)).status).toBe(404);
      expect(runtime.sandboxes.has(forkId)).toBe(false);
      expect(rowsOf(dataDir, forkId)).toEqual(NONE);
    }
    const check = new Database(join(dataDir, "burrow.db"), { readonly: true });
    const states = check
      .prepare(`SELECT state FROM sandboxes WHERE id IN (${forkIds.map(() => "?").join(",")})`)
      .pluck()
      .all(...forkIds);
    check.close();
    expect(states).toEqual(["deleted", "deleted", "deleted"]);
    // The source is untouched.
    expect((await call("GET", `/v1/sandboxes/${id}`)).body.state).toBe("running");
  });
});
