import type { SandboxEvent } from "@burrow/core";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { SqlE2bStore, SqlPreviewStore } from "../../packages/server/src/store/sql/e2b-preview-stores.js";
import { SqlSandboxStore } from "../../packages/server/src/store/sql/sandbox-store.js";
import { SqlSecretStore } from "../../packages/server/src/store/sql/secret-store.js";
import { SqlApiKeyStore, SqlEgressStore, SqlEventStore } from "../../packages/server/src/store/sql/small-stores.js";
import { SqlVolumeStore } from "../../packages/server/src/store/sql/volume-store.js";
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

describe.each(BACKENDS)("E2B and preview stores on %s (Kysely)", (backend) => {
  it("E2B settings: on-timeout upserts, memory flags decide a fresh boot, ingress, forget", SLOW, async () => {
    const e2b = new SqlE2bStore(await backends.database(backend));
    expect(await e2b.bootsFreshOnConnect("sb_1")).toBe(false);
    await e2b.setOnTimeout("sb_1", "kill");
    await e2b.setOnTimeout("sb_1", "pause");
    expect(await e2b.onTimeout("sb_1")).toBe("pause");
    expect(await e2b.bootsFreshOnConnect("sb_1")).toBe(false);
    await e2b.setAutoPauseMemory("sb_1", false);
    expect(await e2b.bootsFreshOnConnect("sb_1")).toBe(true);
    await e2b.setPausedMemory("sb_1", true);
    expect(await e2b.bootsFreshOnConnect("sb_1")).toBe(false);
    await e2b.setPausedMemory("sb_1", undefined);
    expect(await e2b.bootsFreshOnConnect("sb_1")).toBe(true);
    expect(await e2b.ingress("sb_1")).toEqual({ trafficToken: null, maskRequestHost: null });
    await e2b.setIngress("sb_1", { trafficToken: "tt", maskRequestHost: "preview.example" });
    expect(await e2b.ingress("sb_1")).toEqual({ trafficToken: "tt", maskRequestHost: "preview.example" });
    await e2b.forget("sb_1");
    expect(await e2b.onTimeout("sb_1")).toBeUndefined();
    expect(await e2b.ingress("sb_1")).toBeUndefined();
  });

  it("previews: list in order, by token hash, public ones per port, delete", SLOW, async () => {
    const previews = new SqlPreviewStore(await backends.database(backend));
    const at = "2030-01-01T00:00:00.000Z";
    const base = { sandboxId: "sb_1", port: 8080, tokenHash: null, expiresAt: null, createdAt: at };
    await previews.insert({ ...base, id: "pv_b", public: true });
    await previews.insert({ ...base, id: "pv_a", public: false, tokenHash: "th" });
    await previews.insert({ ...base, id: "pv_c", public: true, port: 3000, createdAt: "2030-01-02T00:00:00.000Z" });
    const listed = (await previews.list("sb_1")).map((p) => p.id);
    expect(listed[2]).toBe("pv_c");
    expect(listed.slice(0, 2).sort()).toEqual(["pv_a", "pv_b"]);
    expect((await previews.byTokenHash("th"))?.id).toBe("pv_a");
    expect((await previews.publicFor("sb_1", 8080)).map((p) => [p.id, p.public])).toEqual([["pv_b", true]]);
    await expect(previews.insert({ ...base, id: "pv_d", public: false, tokenHash: "th" })).rejects.toThrow();
    expect(await previews.delete("sb_other", "pv_a")).toBe(false);
    expect(await previews.delete("sb_1", "pv_a")).toBe(true);
    await previews.deleteForSandbox("sb_1");
    expect(await previews.list("sb_1")).toEqual([]);
  });
});

describe.each(BACKENDS)("secret store on %s (Kysely)", (backend) => {
  it("keeps sealed bytes exactly, inserts once, upserts, sorts bytewise, replaces bindings", SLOW, async () => {
    const secrets = new SqlSecretStore(await backends.database(backend));
    const sealed = Buffer.from([0, 1, 2, 255, 0, 128]);
    const at = "2030-01-01T00:00:00.000Z";
    expect(await secrets.insert({ name: "b", sealed, createdAt: at, updatedAt: at })).toBe(true);
    expect(await secrets.insert({ name: "b", sealed: Buffer.from("x"), createdAt: at, updatedAt: at })).toBe(false);
    expect((await secrets.get("b"))?.sealed.equals(sealed)).toBe(true);
    await secrets.upsert({ name: "B", sealed: Buffer.from("y"), createdAt: at, updatedAt: at });
    await secrets.upsert({
      name: "b",
      sealed: Buffer.from("z"),
      createdAt: "x",
      updatedAt: "2030-01-02T00:00:00.000Z",
    });
    expect(await secrets.get("b")).toMatchObject({ createdAt: at, updatedAt: "2030-01-02T00:00:00.000Z" });
    expect((await secrets.get("b"))?.sealed.toString()).toBe("z");
    expect((await secrets.list()).map((s) => s.name)).toEqual(["B", "b"]);
    await secrets.setBindings("sb_1", [{ name: "b", hosts: ["api.example.com"], allowHttp: true }]);
    await secrets.setBindings("sb_1", [
      { name: "b", hosts: ["*.example.com"] },
      { name: "B", hosts: ["x.example.com"] },
    ]);
    expect(await secrets.bindings("sb_1")).toEqual([
      { name: "B", hosts: ["x.example.com"] },
      { name: "b", hosts: ["*.example.com"] },
    ]);
    expect(await secrets.boundSandboxes("b")).toEqual(["sb_1"]);
    expect(await secrets.delete("b")).toBe(true);
    expect(await secrets.delete("b")).toBe(false);
    await secrets.setBindings("sb_1", []);
    expect(await secrets.bindings("sb_1")).toEqual([]);
  });
});

describe.each(BACKENDS)("volume store on %s (Kysely)", (backend) => {
  it("volumes by id, name and token; mounts per sandbox; which live sandboxes use which volume", SLOW, async () => {
    const database = await backends.database(backend);
    const volumes = new SqlVolumeStore(database);
    const sandboxes = new SqlSandboxStore(database);
    const at = "2030-01-01T00:00:00.000Z";
    await volumes.insert({ id: "vol_b", name: "data", sizeBytes: 8_000_000_000, token: "tok_b", createdAt: at });
    await volumes.insert({ id: "vol_a", name: "cache", sizeBytes: 1, token: "tok_a", createdAt: at });
    await expect(
      volumes.insert({ id: "vol_c", name: "data", sizeBytes: 1, token: "tok_c", createdAt: at }),
    ).rejects.toThrow();
    expect((await volumes.list()).map((v) => v.id)).toEqual(["vol_a", "vol_b"]);
    expect((await volumes.byName("data"))?.sizeBytes).toBe(8_000_000_000);
    expect((await volumes.byToken("tok_a"))?.name).toBe("cache");
    for (const id of ["sb_2", "sb_1", "sb_gone"]) {
      await sandboxes.insertWithNetworkIndex(
        {
          id,
          template: "base",
          state: "running",
          metadata: {},
          env: {},
          resources: { vcpus: 1, memoryMb: 512, pids: 256, diskMb: 0 },
          lifecycle: { standbyAfterMs: 0, hibernateAfterMs: 0, deleteAfterMs: 0 },
          agentToken: "t",
          createdAt: at,
          updatedAt: at,
          lastActivityAt: at,
          stateSince: at,
          pool: null,
        },
        15,
      );
      await volumes.setMounts(id, [
        { volumeId: "vol_b", path: "/work/b", readOnly: false },
        { volumeId: "vol_b", path: "/work/B", readOnly: true },
      ]);
    }
    await sandboxes.setState("sb_gone", "deleted", null, at);
    expect((await volumes.mountsOf("sb_1")).map((m) => [m.path, m.readOnly])).toEqual([
      ["/work/B", true],
      ["/work/b", false],
    ]);
    expect(await volumes.mountedBy("vol_b")).toEqual(["sb_1", "sb_2"]);
    expect(await volumes.inUse()).toEqual(["vol_b"]);
    await volumes.forgetSandbox("sb_1");
    await volumes.forgetSandbox("sb_2");
    expect(await volumes.inUse()).toEqual([]);
    expect(await volumes.delete("vol_b")).toBe(true);
    expect(await volumes.delete("vol_b")).toBe(false);
  });
});
