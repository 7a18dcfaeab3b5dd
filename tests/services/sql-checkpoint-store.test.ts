import { DEFAULT_LIFECYCLE } from "@burrow/core";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { CheckpointRecord } from "../../packages/server/src/store/checkpoint-store.js";
import { SqlCheckpointStore } from "../../packages/server/src/store/sql/checkpoint-store.js";
import type { SqlDatabase } from "../../packages/server/src/store/sql/database.js";
import { SqlSandboxStore } from "../../packages/server/src/store/sql/sandbox-store.js";
import { BACKENDS, SqlBackends } from "./sql-backends.js";

const SLOW = { timeout: 240_000 };

function checkpoint(id: string, sandboxId: string, parentId: string | null, createdAt: string): CheckpointRecord {
  return {
    id,
    sandboxId,
    name: null,
    mode: "fs",
    parentId,
    manifestHash: `m_${id}`,
    sizeBytes: 5_000_000_000,
    storedBytes: 10,
    fileCount: 1,
    pausedMs: 0,
    createdAt,
    status: "ready",
  };
}

async function addSandbox(database: SqlDatabase, id: string): Promise<void> {
  const now = new Date().toISOString();
  await new SqlSandboxStore(database).insertWithNetworkIndex(
    {
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
    },
    255,
  );
}

const backends = new SqlBackends();
afterEach(() => backends.closeDatabases());
afterAll(() => backends.stop(), SLOW.timeout);

describe.each(BACKENDS)("checkpoint store on %s (Kysely)", (backend) => {
  it("keeps heads, references and the tree through inserts, completes and deletes", SLOW, async () => {
    const database = await backends.database(backend);
    const store = new SqlCheckpointStore(database);
    await addSandbox(database, "sb_1");
    await store.insert(checkpoint("c1", "sb_1", null, "2030-01-01T00:00:00.000Z"), ["h1", "h2", "h1"]);
    await store.insert(checkpoint("c2", "sb_1", "c1", "2030-01-01T00:00:00.000Z"), ["h2"]);
    await store.insert({ ...checkpoint("c3", "sb_1", "c2", "2030-01-02T00:00:00.000Z"), status: "storing" }, []);
    expect(await store.head("sb_1")).toBe("c3");
    expect((await store.list("sb_1")).map((c) => c.id)).toEqual(["c1", "c2", "c3"]);
    expect((await store.get("c1"))?.sizeBytes).toBe(5_000_000_000);
    expect((await store.listStoring()).map((c) => c.id)).toEqual(["c3"]);
    expect(await store.complete("c3", "m_done", 99, ["h3"])).toBe(true);
    expect(await store.get("c3")).toMatchObject({ status: "ready", manifestHash: "m_done", storedBytes: 99 });
    expect(await store.complete("gone", "m", 1, [])).toBe(false);

    // Deleting c2 moves c3 onto c1; deleting the head moves the head to its parent.
    expect((await store.delete("c2")).sort()).toEqual(["h2"]);
    expect((await store.get("c3"))?.parentId).toBe("c1");
    expect(await store.isReferenced("h2")).toBe(true);
    expect(await store.delete("c3")).toEqual(["h3"]);
    expect(await store.head("sb_1")).toBe("c1");
    expect(await store.delete("c1")).toEqual(expect.arrayContaining(["h1", "h2"]));
    expect(await store.head("sb_1")).toBeNull();
    expect(await store.isReferenced("h1")).toBe(false);
    expect(await store.delete("c1")).toEqual([]);
  });

  it("releases a deleted fork's base references, and lists orphaned checkpoints", SLOW, async () => {
    const database = await backends.database(backend);
    const store = new SqlCheckpointStore(database);
    const sandboxes = new SqlSandboxStore(database);
    await addSandbox(database, "sb_src");
    await addSandbox(database, "sb_fork");
    await store.insert(checkpoint("c1", "sb_src", null, "2030-01-01T00:00:00.000Z"), ["h1"]);
    await store.setBase("sb_fork", { checkpointId: "c1", manifestHash: "m_c1" }, ["h1", "hb"]);
    await store.setBase("sb_fork", { checkpointId: "c1", manifestHash: "m_c1b" }, ["hb"]);
    expect(await store.base("sb_fork")).toEqual({ checkpointId: "c1", manifestHash: "m_c1b" });
    expect(await store.liveBaseManifests()).toEqual(new Set(["m_c1b"]));
    expect(await store.releaseDeletedForks()).toEqual([]);
    await sandboxes.setState("sb_fork", "deleted", null, new Date().toISOString());
    expect((await store.releaseDeletedForks()).sort()).toEqual(["h1", "hb"]);
    expect(await store.base("sb_fork")).toBeUndefined();
    expect(await store.isReferenced("hb")).toBe(false);
    expect(await store.isReferenced("h1")).toBe(true);
    await sandboxes.setState("sb_src", "deleted", null, new Date().toISOString());
    expect(await store.orphanedCheckpoints()).toEqual(["c1"]);
  });
});

describe("checkpoint store on postgres: two nodes", () => {
  it("deleting the middle of a chain at once from two pools leaves the tree connected", SLOW, async () => {
    const url = await backends.postgresUrl();
    const a = await backends.database("postgres", url);
    const b = await backends.database("postgres", url);
    const storeA = new SqlCheckpointStore(a);
    const storeB = new SqlCheckpointStore(b);
    await addSandbox(a, "sb_1");
    const ids = Array.from({ length: 12 }, (_, i) => `c${String(i).padStart(2, "0")}`);
    for (const [i, id] of ids.entries()) {
      await storeA.insert(
        checkpoint(id, "sb_1", i === 0 ? null : (ids[i - 1] as string), `2030-01-01T00:00:${id.slice(1)}.000Z`),
        [`h_${id}`],
      );
    }
    // Delete every middle one at once, neighbours through different nodes: each delete moves its
    // child to its parent while that parent is itself being deleted.
    const middle = ids.slice(1, -1);
    await Promise.all(middle.map((id, i) => (i % 2 === 0 ? storeA : storeB).delete(id)));
    const left = await storeB.list("sb_1");
    expect(left.map((c) => [c.id, c.parentId])).toEqual([
      ["c00", null],
      ["c11", "c00"],
    ]);
    expect(await storeA.head("sb_1")).toBe("c11");
  });
});
