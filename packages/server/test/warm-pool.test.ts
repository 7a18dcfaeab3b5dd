import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "@burrow/core";
import { FakeRuntime } from "@burrow/runtime";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { composeServices, type Services } from "../src/root/compose.js";
import { FakeAgentClient } from "../src/services/fake-agent-client.js";
import { type Db, openDb } from "../src/store/db.js";

// The services as the composition root builds them, with a fake runtime, a fake agent client and
// a clock the test moves: the sleep policy runs one tick at a time, no waiting.
describe("warm pool with a manual clock", () => {
  let dir: string;
  let db: Db;
  let s: Services;
  let clock: number;
  const agents = new FakeAgentClient();

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "burrow-pool-"));
    mkdirSync(join(dir, "templates", "base", "rootfs"), { recursive: true });
    clock = Date.parse("2026-01-01T00:00:00Z");
    db = openDb(join(dir, "burrow.db"));
    s = composeServices({
      config: { ...loadConfig({ BURROW_DATA_DIR: dir }), warmPool: { base: 1 } },
      logger: silentLogger,
      db,
      runtime: new FakeRuntime(),
      agents,
      host: { cpus: 64, memoryMb: 1 << 20 },
      networkPrefix: "10.77",
      now: () => clock,
    });
  });

  afterEach(async () => {
    await s.pool.drain();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const filled = async () => {
    for (let i = 0; i < 200 && s.pool.size("base") < 1; i++) await new Promise((r) => setTimeout(r, 5));
    expect(s.pool.size("base")).toBe(1);
  };
  const tick = () => s.lifecycle.tick((id) => s.sandboxes.delete(id));

  it("counts idle time of a claimed sandbox from the claim, not from when the pool started it", async () => {
    await s.pool.start();
    await filled();
    // The pool's sandbox waited a minute for a taker.
    clock += 60_000;
    const claimed = await s.sandboxes.create({ env: { A: "1" } });
    expect((await s.events.list(claimed.id, 0)).map((e) => e.type)).toContain("claimed");
    expect(agents.calls).toContainEqual(expect.objectContaining({ op: "init", env: { A: "1" } }));
    // Five seconds after the claim: well within the default 15 s before standby.
    clock += 5_000;
    await tick();
    expect((await s.store.get(claimed.id))?.state).toBe("running");
    expect(s.activity.idleMs(claimed.id)).toBe(5_000);
    // And the policy still applies from there.
    clock += 15_000;
    await tick();
    expect((await s.store.get(claimed.id))?.state).toBe("standby");
  });
});
