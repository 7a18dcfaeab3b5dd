import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger, type TemplateInfo } from "@burrow/core";
import { afterEach, describe, expect, it } from "vitest";
import { openDb } from "../src/store/db.js";
import { SqliteTemplateStore } from "../src/store/template-store.js";
import { Catalog, emptyConfig } from "../src/templates/catalog.js";
import { LayerStore } from "../src/templates/layer-store.js";
import { type FakeServer, startFakeServer } from "./fake-server.js";

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "burrow-tpl-"));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function catalogIn(dir: string) {
  const db = openDb(join(dir, "burrow.db"));
  const store = new SqliteTemplateStore(db);
  const layers = new LayerStore(join(dir, "layers"), store, silentLogger);
  const catalog = new Catalog({ store, layers, templatesDir: join(dir, "templates"), logger: silentLogger });
  return { db, store, layers, catalog };
}

describe("template catalog (component, fake runtime)", () => {
  const call = (fake: FakeServer, method: string, path: string, body?: unknown) =>
    fetch(`${fake.server.url}${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${fake.key}`,
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  it("registers the base directory as base:latest and creates sandboxes from that version's layers", async () => {
    const fake = await startFakeServer();
    try {
      const list = (await (await call(fake, "GET", "/v1/templates")).json()) as { templates: TemplateInfo[] };
      const base = list.templates.find((t) => t.name === "base");
      expect(base?.tags.latest).toMatch(/^tv_[a-z2-7]{20}$/);
      const res = await call(fake, "POST", "/v1/sandboxes", { template: "base" });
      expect(res.status).toBe(201);
      const sb = (await res.json()) as { id: string; template: string; templateVersion?: string };
      expect(sb.templateVersion).toBe(base?.tags.latest);
      expect(fake.runtime.sandboxes.get(sb.id)?.spec.templateLayers).toEqual([
        join(fake.dataDir, "templates", "base", "rootfs"),
      ]);
      const tagged = await call(fake, "POST", "/v1/sandboxes", { template: "base:latest" });
      expect(tagged.status).toBe(201);
    } finally {
      await fake.close();
    }
  });

  it("re-registers a changed template.json as a new version: latest moves, sandboxes keep theirs", async () => {
    const dataDir = tempDir();
    const first = await startFakeServer({}, dataDir);
    const sb = (await (await call(first, "POST", "/v1/sandboxes", { template: "base" })).json()) as {
      id: string;
      templateVersion: string;
    };
    await first.server.close();
    writeFileSync(join(dataDir, "templates", "base", "template.json"), JSON.stringify({ built: "again" }));
    const second = await startFakeServer({}, dataDir);
    try {
      const base = (await (await call(second, "GET", "/v1/templates/base")).json()) as TemplateInfo;
      expect(base.versions).toHaveLength(2);
      expect(base.tags.latest).not.toBe(sb.templateVersion);
      const kept = (await (await call(second, "GET", `/v1/sandboxes/${sb.id}`)).json()) as { templateVersion: string };
      expect(kept.templateVersion).toBe(sb.templateVersion);
      // A third start with the same template.json adds nothing.
      await second.server.close();
      const third = await startFakeServer({}, dataDir);
      const again = (await (await call(third, "GET", "/v1/templates/base")).json()) as TemplateInfo;
      expect(again.versions).toHaveLength(2);
      await third.server.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("moves and removes tags, refuses bad tags, and answers 409 naming the sandboxes for a version in use", async () => {
    const fake = await startFakeServer();
    try {
      const base = (await (await call(fake, "GET", "/v1/templates/base")).json()) as TemplateInfo;
      const v = base.tags.latest as string;
      const moved = await call(fake, "PUT", "/v1/templates/base/tags/stable", { versionId: v });
      expect(moved.status).toBe(200);
      expect(((await moved.json()) as TemplateInfo).tags.stable).toBe(v);
      const bad = await call(fake, "PUT", "/v1/templates/base/tags/bad%20tag!", { versionId: v });
      expect(bad.status).toBe(400);
      const unknownVersion = await call(fake, "PUT", "/v1/templates/base/tags/x", { versionId: "tv_nope" });
      expect(unknownVersion.status).toBe(404);
      const sb = (await (await call(fake, "POST", "/v1/sandboxes", { template: "base:stable" })).json()) as {
        id: string;
      };
      const inUse = await call(fake, "DELETE", `/v1/templates/base/versions/${v}`);
      expect(inUse.status).toBe(409);
      const { error: err } = (await inUse.json()) as { error: { code: string; message: string } };
      expect(err.code).toBe("conflict");
      expect(err.message).toContain(sb.id);
      expect((await call(fake, "DELETE", "/v1/templates/base/tags/stable")).status).toBe(204);
      expect((await call(fake, "DELETE", "/v1/templates/base/tags/stable")).status).toBe(404);
      expect((await call(fake, "POST", "/v1/sandboxes", { template: "base:stable" })).status).toBe(404);
      expect((await call(fake, "POST", "/v1/sandboxes", { template: "Bad Name" })).status).toBe(400);
      expect((await call(fake, "DELETE", `/v1/sandboxes/${sb.id}`)).status).toBe(204);
      expect((await call(fake, "DELETE", `/v1/templates/base/versions/${v}`)).status).toBe(204);
      expect((await call(fake, "GET", "/v1/templates/nothing")).status).toBe(404);
    } finally {
      await fake.close();
    }
  });

  it("restarts a sandbox of the previous release (no version) on its template directory's rootfs", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, "templates", "base", "rootfs"), { recursive: true });
    const { db, catalog } = catalogIn(dir);
    expect(await catalog.layersOf({ template: "base" })).toEqual([join(dir, "templates", "base", "rootfs")]);
    await catalog.registerDirectories();
    const v = await catalog.resolve("base");
    expect(await catalog.layersOf({ template: "base", templateVersion: v.versionId })).toEqual(v.layerDirs);
    db.close();
  });

  it("collects layers no version uses, keeps pinned ones, and removes temporary layers at start", async () => {
    const dir = tempDir();
    const { db, store, layers, catalog } = catalogIn(dir);
    const make = async (digest: string) => {
      const tmp = await layers.tempPath("test");
      mkdirSync(join(tmp, "etc"), { recursive: true });
      return layers.commit(digest, tmp, 1);
    };
    const kept = await make("a".repeat(64));
    const unused = await make("b".repeat(64));
    const pinnedDir = await make("c".repeat(64));
    const release = layers.pin("c".repeat(64));
    const v = await catalog.addVersion("app", ["a".repeat(64)], emptyConfig());
    await store.setTag("app", "latest", v.id, new Date().toISOString());
    const half = await layers.tempPath("crashed");
    mkdirSync(half);
    const stray = join(layers.root, "d".repeat(24));
    mkdirSync(stray);
    const removed = await layers.recover();
    expect(removed).toEqual(expect.arrayContaining(["b".repeat(64)]));
    expect(existsSync(kept)).toBe(true);
    expect(existsSync(unused)).toBe(false);
    expect(existsSync(pinnedDir)).toBe(true);
    expect(existsSync(half)).toBe(false);
    expect(existsSync(stray)).toBe(false);
    release();
    expect(await layers.collect()).toEqual(["c".repeat(64)]);
    expect((await catalog.resolve("app:latest")).layerDirs).toEqual([kept]);
    expect(await catalog.remove("app")).toBe(true);
    expect(existsSync(kept)).toBe(false);
    expect(await catalog.get("app")).toBeUndefined();
    db.close();
  });
});
