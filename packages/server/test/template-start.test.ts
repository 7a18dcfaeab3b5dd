import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BurrowError, silentLogger, type TemplateConfig } from "@burrow/core";
import { FakeRuntime } from "@burrow/runtime";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { composeServices, type Services } from "../src/root/compose.js";
import type { AgentProcessSpec } from "../src/services/agent-process.js";
import { FakeAgentClient } from "../src/services/fake-agent-client.js";
import { START_TAG } from "../src/services/template-start.js";
import { type Db, openDb } from "../src/store/db.js";

// Start and ready commands and per-template warm pools with a fake runtime and a fake agent client
// whose answers the test scripts: what runs, as whom, with which env, and what create does when
// the start command fails.
describe("template start commands and per-template warm pools (fake runtime)", () => {
  let dir: string;
  let db: Db;
  let s: Services;
  let agents: FakeAgentClient;

  const compose = (warmPool: Record<string, number>) => {
    s = composeServices({
      config: { ...loadConfig({ BURROW_DATA_DIR: dir }), warmPool },
      logger: silentLogger,
      db,
      runtime: new FakeRuntime(),
      agents,
      host: { cpus: 64, memoryMb: 1 << 20 },
      networkPrefix: "10.77",
    });
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "burrow-tstart-"));
    mkdirSync(join(dir, "templates", "base", "rootfs"), { recursive: true });
    db = openDb(join(dir, "burrow.db"));
    agents = new FakeAgentClient();
  });

  afterEach(async () => {
    await s?.pool.drain();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A version of `name` on base's layers with `start`, tagged `tag`. */
  const version = async (name: string, start: Partial<TemplateConfig>, tag = "latest"): Promise<string> => {
    const base = await s.templates.registerDirectory("base");
    if (!base) throw new Error("no base");
    const config: TemplateConfig = { env: { GREETING: "hi" }, labels: {}, exposedPorts: [], ...start };
    const v = await s.templates.addVersion(name, base.layers, config);
    await s.templates.tag(name, tag, v.id);
    return v.id;
  };
  const processes = () =>
    agents.calls.flatMap((c) => (c.op === "runProcess" ? [{ spec: c.spec, detach: c.detach }] : []));

  it("runs the start command tagged, as the template's user, in its workdir, with its env; create waits for ready", async () => {
    compose({});
    await version("app", { startCmd: "serve", readyCmd: "check", user: "user", workdir: "/srv" });
    let checks = 0;
    agents.processResult = (spec: AgentProcessSpec) =>
      spec.args.at(-1) === "check"
        ? { pid: 2, exitCode: ++checks >= 3 ? 0 : 1, output: "not yet" }
        : { pid: 1, exitCode: 0 };
    const record = await s.sandboxes.create({ template: "app" });
    expect(record.state).toBe("running");
    const [start, ...rest] = processes();
    expect(start?.detach).toBe(true);
    expect(start?.spec).toMatchObject({ tag: START_TAG, user: "user", cwd: "/srv", envs: { GREETING: "hi" } });
    expect(start?.spec.args.at(-1)).toContain("serve");
    // Three ready checks (two failed), each as the template's user; between them, is the start command alive?
    expect(rest.filter((p) => p.spec.args.at(-1) === "check")).toHaveLength(3);
    expect(checks).toBe(3);
  });

  it("a start command that exits first fails the create with 422 template_start_failed and its output; nothing is left", async () => {
    compose({});
    await version("broken", { startCmd: "serve", readyCmd: "check", readyTimeoutMs: 30_000 });
    agents.processResult = (spec: AgentProcessSpec) => {
      const script = spec.args.at(-1) ?? "";
      if (script === "check") return { pid: 2, exitCode: 1, output: "connection refused" };
      if (script.startsWith("kill -0")) return { pid: 3, exitCode: 1 }; // the start command is gone
      if (script.startsWith("tail")) return { pid: 4, exitCode: 0, output: "config missing" };
      return { pid: 1, exitCode: 0 };
    };
    const err = await s.sandboxes.create({ template: "broken" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BurrowError);
    expect((err as BurrowError).code).toBe("template_start_failed");
    expect((err as BurrowError).status).toBe(422);
    expect((err as BurrowError).details).toMatchObject({ output: "config missing" });
    expect(JSON.stringify((err as BurrowError).details)).toContain("connection refused");
    expect(await s.store.listLive()).toEqual([]);
  });

  it("a ready command that never passes fails at readyTimeoutMs", async () => {
    compose({});
    await version("slow", { startCmd: "serve", readyCmd: "check", readyTimeoutMs: 300 });
    agents.processResult = (spec: AgentProcessSpec) =>
      spec.args.at(-1) === "check" ? { pid: 2, exitCode: 1, output: "" } : { pid: 1, exitCode: 0 };
    const err = await s.sandboxes.create({ template: "slow" }).catch((e: unknown) => e);
    expect((err as BurrowError).code).toBe("template_start_failed");
    expect((err as BurrowError).message).toContain("not ready within 300 ms");
    expect(await s.store.listLive()).toEqual([]);
  });

  it("a template without a start command runs nothing at create", async () => {
    compose({});
    await version("plain", {});
    await s.sandboxes.create({ template: "plain" });
    expect(processes()).toEqual([]);
  });

  it("warm pools per template and tag: filled started, refilled with the version the tag points at now", async () => {
    compose({ base: 1, app: 1, "app:dev": 1 });
    const v1 = await version("app", { startCmd: "serve" });
    const dev = await version("app", { startCmd: "serve-dev" }, "dev");
    await s.pool.start();
    const poolOf = async (key: string, want: string) => {
      for (let i = 0; i < 400; i++) {
        const ids = (await s.store.listLive()).filter((r) => r.pool === key && r.state === "running");
        if (ids.length === 1 && ids[0]?.templateVersion === want && s.pool.size(key) === 1) return ids[0].id;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`pool ${key} never held one sandbox of ${want}`);
    };
    const first = await poolOf("app", v1);
    await poolOf("app:dev", dev);
    await poolOf("base", (await s.templates.resolve("base")).versionId);
    // Started before they entered the pool.
    expect(processes().filter((p) => p.spec.tag === START_TAG)).toHaveLength(2);
    // The tag moves: the pooled v1 sandbox is deleted and replaced by one of v2, without a claim.
    const v2 = await version("app", { startCmd: "serve2" });
    const replacement = await poolOf("app", v2);
    expect(replacement).not.toBe(first);
    expect((await s.store.get(first))?.state).toBe("deleted");
    // `app:latest` and `app` are the same pool; the claim hands out the v2 sandbox.
    const claimed = await s.sandboxes.create({ template: "app:latest" });
    expect(claimed.id).toBe(replacement);
    expect(claimed.templateVersion).toBe(v2);
    const devClaimed = await s.sandboxes.create({ template: "app:dev" });
    expect(devClaimed.templateVersion).toBe(dev);
    expect(devClaimed.pool).toBeNull();
  });

  it("a claim never hands out a pooled sandbox of an older version, even before the refresh", async () => {
    compose({ app: 2 });
    const v1 = await version("app", {});
    await s.pool.start();
    for (let i = 0; i < 400 && s.pool.size("app") < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(s.pool.size("app")).toBe(2);
    const v2 = await version("app", {});
    expect(v2).not.toBe(v1);
    const claimed = await s.sandboxes.create({ template: "app" });
    expect(claimed.templateVersion).toBe(v2);
  });
});
