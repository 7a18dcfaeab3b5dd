import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_LIFECYCLE } from "@burrow/core";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SqliteCheckpointStore } from "../src/store/checkpoint-store.js";
import { type Db, openDb } from "../src/store/db.js";
import { type SandboxRecord, SqliteSandboxStore } from "../src/store/sandbox-store.js";
import { SqliteTemplateStore } from "../src/store/template-store.js";
import { startFakeServer } from "./fake-server.js";

/**
 * The store API is async: callers interleave at every await. A read-then-write that must be
 * atomic is one store method; these tests start such calls together and check the outcome.
 */
let dir: string;
let db: Db;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "burrow-store-async-"));
  db = openDb(join(dir, "burrow.db"));
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

function sandbox(id: string, templateVersion?: string): Omit<SandboxRecord, "networkIndex"> {
  const now = new Date().toISOString();
  return {
    id,
    template: "base",
    ...(templateVersion === undefined ? {} : { templateVersion }),
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
  };
}

describe("async stores keep read-then-write atomic", () => {
  it("gives concurrent inserts distinct network indexes, and refuses past the last one", async () => {
    const store = new SqliteSandboxStore(db);
    const made = await Promise.all(
      Array.from({ length: 8 }, (_, i) => store.insertWithNetworkIndex(sandbox(`sb_${i}`), 7)),
    );
    expect(new Set(made.map((r) => r.networkIndex)).size).toBe(8);
    expect(made.map((r) => r.networkIndex).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    await expect(store.insertWithNetworkIndex(sandbox("sb_x"), 7)).rejects.toMatchObject({
      code: "service_unavailable",
    });
  });

  it("does not complete a checkpoint deleted while it was stored, nor keep blob references for it", async () => {
    const checkpoints = new SqliteCheckpointStore(db);
    await new SqliteSandboxStore(db).insertWithNetworkIndex(sandbox("sb_1"), 10);
    await checkpoints.insert(
      {
        id: "ck_1",
        sandboxId: "sb_1",
        name: null,
        mode: "fs",
        parentId: null,
        manifestHash: "",
        sizeBytes: 0,
        storedBytes: 0,
        fileCount: 0,
        pausedMs: 0,
        createdAt: new Date().toISOString(),
        status: "storing",
      },
      [],
    );
    const hash = "e".repeat(64);
    const [deleted, completed] = await Promise.all([
      checkpoints.delete("ck_1"),
      checkpoints.complete("ck_1", "m".repeat(64), 1, [hash]),
    ]);
    expect(deleted).toEqual([]);
    expect(completed).toBe(false);
    expect(await checkpoints.get("ck_1")).toBeUndefined();
    expect(await checkpoints.isReferenced(hash)).toBe(false);
    expect(await checkpoints.head("sb_1")).toBeNull();
  });

  it("deletes a template version only when no sandbox uses it, checking and deleting in one step", async () => {
    const templates = new SqliteTemplateStore(db);
    const now = new Date().toISOString();
    const version = { templateName: "app", layers: [], config: { env: {}, labels: {}, exposedPorts: [] } };
    await templates.insertVersion({ ...version, id: "tv_1", source: null, sizeBytes: 0, createdAt: now });
    await templates.setTag("app", "latest", "tv_1", now);
    await new SqliteSandboxStore(db).insertWithNetworkIndex(sandbox("sb_1", "tv_1"), 10);
    expect(await templates.removeUnused("app", "tv_1")).toEqual({ removed: false, users: ["sb_1"] });
    expect(await templates.version("tv_1")).toBeDefined();
    expect(await templates.removeUnused("app", "tv_nope")).toEqual({ removed: false, users: [] });
    await new SqliteSandboxStore(db).setState("sb_1", "deleted", null, now);
    expect(await templates.removeUnused("app", undefined)).toEqual({ removed: true, users: [] });
    expect(await templates.template("app")).toBeUndefined();
    expect(await templates.tagsOf("app")).toEqual({});
  });

  it("tags an untagged template once when two registrations race", async () => {
    const templates = new SqliteTemplateStore(db);
    const now = new Date().toISOString();
    const results = await Promise.all([
      templates.setTagIfUntagged("app", "latest", "tv_a", now),
      templates.setTagIfUntagged("app", "latest", "tv_b", now),
    ]);
    expect([...results].sort()).toEqual([false, true]);
    expect(await templates.tagsOf("app")).toEqual({ latest: results[0] ? "tv_a" : "tv_b" });
  });
});

describe("concurrent creates through the service", () => {
  it("start sandboxes on distinct networks", async () => {
    const fake = await startFakeServer();
    try {
      const create = () =>
        fetch(`${fake.server.url}/v1/sandboxes`, {
          method: "POST",
          headers: { Authorization: `Bearer ${fake.key}`, "Content-Type": "application/json" },
          body: "{}",
        });
      const answers = await Promise.all(Array.from({ length: 4 }, create));
      expect(answers.map((r) => r.status)).toEqual([201, 201, 201, 201]);
      const reader = new Database(join(fake.dataDir, "burrow.db"), { readonly: true });
      try {
        const indexes = reader.prepare("SELECT net_index FROM sandboxes WHERE state != 'deleted'").pluck().all();
        expect(indexes).toHaveLength(4);
        expect(new Set(indexes).size).toBe(4);
      } finally {
        reader.close();
      }
    } finally {
      await fake.close();
    }
  });
});
