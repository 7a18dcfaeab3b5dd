import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "@burrow/core";
import { afterEach, describe, expect, it } from "vitest";
import { openDb } from "../src/store/db.js";
import { TemplateStore } from "../src/store/template-store.js";
import { Catalog } from "../src/templates/catalog.js";
import { directoryConfig } from "../src/templates/directory-config.js";
import { LayerStore } from "../src/templates/layer-store.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function templateDir(name: string, manifest: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), "burrow-tpldir-"));
  dirs.push(dir);
  mkdirSync(join(dir, "templates", name, "rootfs"), { recursive: true });
  writeFileSync(join(dir, "templates", name, "template.json"), JSON.stringify(manifest));
  return dir;
}

describe("template directory config (template.json)", () => {
  it("gives the registered version the start command, ready port, user, workdir and env", () => {
    const dir = templateDir("code-interpreter", {
      name: "code-interpreter",
      recipe: "1",
      config: {
        user: "user",
        workdir: "/home/user",
        env: { MPLBACKEND: "agg" },
        startCmd: "exec python3 /opt/service.py",
        readyPort: 49999,
        readyTimeoutMs: 120000,
        exposedPorts: [49999],
      },
    });
    const db = openDb(join(dir, "burrow.db"));
    try {
      const store = new TemplateStore(db);
      const layers = new LayerStore(join(dir, "layers"), store, silentLogger);
      const catalog = new Catalog({ store, layers, templatesDir: join(dir, "templates"), logger: silentLogger });
      catalog.registerDirectories();
      expect(catalog.resolve("code-interpreter").config).toEqual({
        user: "user",
        workdir: "/home/user",
        env: { MPLBACKEND: "agg" },
        labels: {},
        startCmd: "exec python3 /opt/service.py",
        readyPort: 49999,
        readyTimeoutMs: 120000,
        exposedPorts: [49999],
      });
    } finally {
      db.close();
    }
  });

  it("leaves out fields of the wrong type and reads a manifest without config as empty", () => {
    const warnings: unknown[] = [];
    const logger = { ...silentLogger, warn: (obj: unknown) => void warnings.push(obj) };
    const config = directoryConfig(
      JSON.stringify({ config: { startCmd: 5, readyPort: "49999", env: { A: 1 }, user: "user" } }),
      logger,
      "x",
    );
    expect(config).toEqual({ env: {}, labels: {}, exposedPorts: [], user: "user" });
    expect(warnings).toEqual([{ template: "x", skipped: ["startCmd", "readyPort", "env"] }]);
    expect(directoryConfig(JSON.stringify({ name: "base" }), silentLogger, "base")).toEqual({
      env: {},
      labels: {},
      exposedPorts: [],
    });
    expect(directoryConfig("not json", silentLogger, "base").startCmd).toBeUndefined();
  });
});
