import type { SandboxEvent } from "@burrow/core";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { SqlApiKeyStore, SqlEgressStore, SqlEventStore } from "../../packages/server/src/store/sql/small-stores.js";
import { BACKENDS, SqlBackends } from "./sql-backends.js";

const SLOW = { timeout: 240_000 };

const backends = new SqlBackends();
afterEach(() => backends.closeDatabases());
afterAll(() => backends.stop(), SLOW.timeout);

describe.each(BACKENDS)("key, egress and event stores on %s (Kysely)", (backend) => {
  it("API keys: only the created key verifies, and they are counted", SLOW, async () => {
    const keys = new SqlApiKeyStore(await backends.database(backend));
    expect(await keys.count()).toBe(0);
    const { key, id } = await keys.create("ci", "2030-01-01T00:00:00.000Z", "e2b");
    expect(key.startsWith("e2b_")).toBe(true);
    expect(await keys.verify(key)).toEqual({ id, name: "ci" });
    expect(await keys.verify(`${key}x`)).toBeUndefined();
    expect(await keys.count()).toBe(1);
  });

  it("egress policies: set replaces, delete removes", SLOW, async () => {
    const egress = new SqlEgressStore(await backends.database(backend));
    expect(await egress.get("sb_1")).toBeUndefined();
    await egress.set("sb_1", { default: "deny", allow: ["example.com"], deny: [] });
    await egress.set("sb_1", { default: "allow", allow: [], deny: ["10.0.0.0/8"] });
    expect(await egress.get("sb_1")).toEqual({ default: "allow", allow: [], deny: ["10.0.0.0/8"] });
    await egress.delete("sb_1");
    expect(await egress.get("sb_1")).toBeUndefined();
  });

  it("events: increasing ids, paging after an id, last type, and subscribers hear stored events", SLOW, async () => {
    const events = new SqlEventStore(await backends.database(backend));
    const heard: SandboxEvent[] = [];
    const unsubscribe = events.subscribe((e) => heard.push(e));
    for (let i = 0; i < 5; i++) {
      await events.add({
        sandboxId: i === 2 ? "sb_other" : "sb_1",
        at: `2030-01-01T00:00:0${i}.000Z`,
        type: `t${i}`,
        reason: "test",
        ...(i === 0 ? { from: "starting" as const, to: "running" as const, durationMs: 12 } : {}),
      });
    }
    unsubscribe();
    const all = await events.list("sb_1");
    expect(all.map((e) => e.type)).toEqual(["t0", "t1", "t3", "t4"]);
    expect(all[0]).toMatchObject({ from: "starting", to: "running", durationMs: 12 });
    expect(heard.map((e) => e.id)).toEqual([...heard.map((e) => e.id)].sort((a, b) => a - b));
    expect(heard.find((e) => e.type === "t1")?.id).toBe(all[1]?.id);
    expect((await events.list("sb_1", all[1]?.id, 1)).map((e) => e.type)).toEqual(["t3"]);
    expect(await events.lastType("sb_1")).toBe("t4");
    expect(await events.lastType("sb_none")).toBeUndefined();
  });
});
