import { DEFAULT_LIFECYCLE } from "@burrow/core";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { SandboxRecord } from "../../packages/server/src/store/sandbox-store.js";
import { SqlSandboxStore } from "../../packages/server/src/store/sql/sandbox-store.js";
import { BACKENDS, SqlBackends } from "./sql-backends.js";

// Starting PostgreSQL takes seconds of CPU; on a loaded 2-core host, up to a minute.
const SLOW = { timeout: 240_000 };

function sandbox(id: string, fields: Partial<SandboxRecord> = {}): Omit<SandboxRecord, "networkIndex"> {
  const now = new Date().toISOString();
  return {
    id,
    template: "base",
    state: "running",
    metadata: {},
    env: {},
    resources: { vcpus: 1, memoryMb: 512, pids: 256, diskMb: 0 },
    lifecycle: { ...DEFAULT_LIFECYCLE },
    agentToken: "t",
    createdAt: now,
    updatedAt: now,
    lastActivityAt: now,
    stateSince: now,
    pool: null,
    ...fields,
  };
}

const backends = new SqlBackends();
afterEach(() => backends.closeDatabases());
afterAll(() => backends.stop(), SLOW.timeout);

describe.each(BACKENDS)("sandbox store on %s (Kysely)", (backend) => {
  it("round-trips a record and lists live and awake-or-expiring sandboxes", SLOW, async () => {
    const store = new SqlSandboxStore(await backends.database(backend));
    const a = await store.insertWithNetworkIndex(
      sandbox("sb_a", { metadata: { k: "v" }, env: { A: "1" }, templateVersion: "v1" }),
      7,
    );
    expect(await store.get("sb_a")).toEqual(a);
    expect(a.templateVersion).toBe("v1");
    await store.insertWithNetworkIndex(sandbox("sb_h", { state: "hibernated" }), 7);
    await store.insertWithNetworkIndex(
      sandbox("sb_x", { state: "hibernated", lifecycle: { ...DEFAULT_LIFECYCLE, deleteAfterMs: 1000 } }),
      7,
    );
    await store.insertWithNetworkIndex(sandbox("sb_p", { pool: "base" }), 7);
    expect((await store.listLive()).map((r) => r.id).sort()).toEqual(["sb_a", "sb_h", "sb_p", "sb_x"]);
    expect((await store.listAwakeOrExpiring()).map((r) => r.id).sort()).toEqual(["sb_a", "sb_x"]);
    expect((await store.byNetworkIndex(1))?.id).toBe("sb_h");

    await store.setState("sb_a", "error", "boom", "2030-01-01T00:00:00.000Z");
    await store.update(
      "sb_a",
      { metadata: { k: "w" }, resources: { ...a.resources, vcpus: 2 } },
      "2030-01-02T00:00:00.000Z",
    );
    const changed = await store.get("sb_a");
    expect(changed).toMatchObject({
      state: "error",
      error: "boom",
      metadata: { k: "w" },
      stateSince: "2030-01-01T00:00:00.000Z",
    });
    expect(changed?.resources.vcpus).toBe(2);
    expect(changed?.updatedAt).toBe("2030-01-02T00:00:00.000Z");

    await store.claim("sb_p", { owner: "me" }, {}, DEFAULT_LIFECYCLE, "2030-01-03T00:00:00.000Z");
    expect(await store.get("sb_p")).toMatchObject({ pool: null, metadata: { owner: "me" } });
    await store.insertWithNetworkIndex(sandbox("sb_f", { pool: "fork-1" }), 7);
    await store.handOut(["sb_f"], "other-pool");
    expect((await store.get("sb_f"))?.pool).toBe("fork-1");
    await store.handOut(["sb_f"], "fork-1");
    expect((await store.get("sb_f"))?.pool).toBeNull();
    expect(await store.get("sb_none")).toBeUndefined();
  });

  it("gives concurrent inserts distinct network indexes, and refuses past the last one", SLOW, async () => {
    const store = new SqlSandboxStore(await backends.database(backend));
    const made = await Promise.all(
      Array.from({ length: 8 }, (_, i) => store.insertWithNetworkIndex(sandbox(`sb_${i}`), 7)),
    );
    expect(made.map((r) => r.networkIndex).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    await expect(store.insertWithNetworkIndex(sandbox("sb_x"), 7)).rejects.toMatchObject({
      code: "service_unavailable",
    });
  });

  it("does not reuse a deleted sandbox's index while it is quarantined", SLOW, async () => {
    const store = new SqlSandboxStore(await backends.database(backend));
    await store.insertWithNetworkIndex(sandbox("sb_0"), 7);
    await store.setState("sb_0", "deleted", null, new Date().toISOString());
    expect((await store.insertWithNetworkIndex(sandbox("sb_1"), 7)).networkIndex).toBe(1);
  });
});

describe("sandbox store on postgres: two nodes", () => {
  it("two servers (separate pools) allocating at once never share a network index", SLOW, async () => {
    const url = await backends.postgresUrl();
    const nodeA = new SqlSandboxStore(await backends.database("postgres", url));
    const nodeB = new SqlSandboxStore(await backends.database("postgres", url));
    const made = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        (i % 2 === 0 ? nodeA : nodeB).insertWithNetworkIndex(sandbox(`sb_${i}`), 15),
      ),
    );
    expect(made.map((r) => r.networkIndex).sort((a, b) => a - b)).toEqual(Array.from({ length: 16 }, (_, i) => i));
    expect(await nodeB.listLive()).toHaveLength(16);
  });
});
