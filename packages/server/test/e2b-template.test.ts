import { createHash } from "node:crypto";
import {
  BurrowError,
  type TemplateBuildInfo,
  type TemplateBuildLogEntry,
  type TemplateBuildRequest,
  type TemplateConfig,
} from "@burrow/core";
import { describe, expect, it } from "vitest";
import { E2bTemplates } from "../src/app/e2b/template-service.js";
import { e2bBase, parseE2bTemplateName, translateE2bSteps } from "../src/app/e2b/template-wire.js";
import type { ResolvedTemplate, TemplateBuilds, TemplateCatalog, TemplateContexts } from "../src/templates/contract.js";

const HASH = "a".repeat(64);

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof BurrowError ? err.code : String(err);
  }
  return undefined;
}

async function codeOf(fn: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await fn();
  } catch (err) {
    return err instanceof BurrowError ? err.code : String(err);
  }
  return undefined;
}

describe("E2B template steps → Burrow steps", () => {
  it("maps RUN, COPY, ENV, WORKDIR, USER; a RUN naming a user runs as it and restores the user", () => {
    const out = translateE2bSteps(
      {
        steps: [
          { type: "RUN", args: ["apt-get update && apt-get install -y jq", "root"] },
          { type: "USER", args: ["user"] },
          { type: "RUN", args: ["pip install --user x", "root"] },
          { type: "COPY", args: ["app", "/srv/app/", "user", "0644"], filesHash: HASH },
          { type: "ENV", args: ["A", "1", "B", "two"] },
          { type: "WORKDIR", args: ["/srv/app"] },
          { type: "RUN", args: ["echo hi"] },
        ],
        startCmd: "python3 -m http.server 8000",
        readyCmd: "curl -s localhost:8000",
      },
      "root",
      (h) => (h === HASH ? "c".repeat(64) : undefined),
    );
    expect(out.steps).toEqual([
      { type: "run", shell: "apt-get update && apt-get install -y jq" },
      { type: "user", user: "user" },
      { type: "user", user: "root" },
      { type: "run", shell: "pip install --user x" },
      { type: "user", user: "user" },
      { type: "copy", contextHash: "c".repeat(64), sources: ["app"], dest: "/srv/app/", chown: "user", chmod: "0644" },
      { type: "env", vars: { A: "1", B: "two" } },
      { type: "workdir", path: "/srv/app" },
      { type: "run", shell: "echo hi" },
    ]);
    expect(out.origins).toEqual([1, 2, 3, 3, 3, 4, 5, 6, 7]);
    expect(out.start).toEqual({ startCmd: "python3 -m http.server 8000", readyCmd: "curl -s localhost:8000" });
    expect(out.force).toBe(false);
  });

  it("refuses unknown step types, odd ENV args and COPY files never uploaded (400 validation_failed)", () => {
    const none = () => undefined;
    expect(code(() => translateE2bSteps({ steps: [{ type: "HEALTHCHECK", args: [] }] }, "root", none))).toBe(
      "validation_failed",
    );
    expect(code(() => translateE2bSteps({ steps: [{ type: "ENV", args: ["A"] }] }, "root", none))).toBe(
      "validation_failed",
    );
    expect(
      code(() => translateE2bSteps({ steps: [{ type: "COPY", args: ["a", "/a"], filesHash: HASH }] }, "root", none)),
    ).toBe("validation_failed");
  });

  it("a step's force (skipCache) forces the build", () => {
    expect(
      translateE2bSteps({ steps: [{ type: "RUN", args: ["x"], force: true }] }, "root", () => undefined).force,
    ).toBe(true);
  });

  it("maps the SDK's default image and Debian 12 images to base; other images stay image references", () => {
    expect(e2bBase({})).toEqual({ template: "base" });
    expect(e2bBase({ fromImage: "e2bdev/base" })).toEqual({ template: "base" });
    expect(e2bBase({ fromImage: "debian:stable" })).toEqual({ template: "base" });
    expect(e2bBase({ fromImage: "debian:bookworm-slim" })).toEqual({ template: "base" });
    expect(e2bBase({ fromImage: "ubuntu:22.04" })).toEqual({ image: "ubuntu:22.04" });
    expect(e2bBase({ fromTemplate: "mine:v1" })).toEqual({ template: "mine:v1" });
    expect(code(() => e2bBase({ fromTemplate: "a", fromImage: "b" }))).toBe("validation_failed");
    expect(code(() => e2bBase({ fromImage: "x", fromImageRegistry: { type: "registry" } }))).toBe("validation_failed");
  });

  it("parses name[:tag] plus extra tags; names Burrow cannot hold are 400", () => {
    expect(parseE2bTemplateName({ name: "my-app:v1", tags: ["prod", "v1"] })).toEqual({
      name: "my-app",
      tags: ["v1", "prod"],
    });
    expect(parseE2bTemplateName({ alias: "legacy" })).toEqual({ name: "legacy", tags: ["latest"] });
    expect(code(() => parseE2bTemplateName({ name: "My App" }))).toBe("validation_failed");
    expect(code(() => parseE2bTemplateName({}))).toBe("validation_failed");
  });
});

const CONFIG: TemplateConfig = { env: {}, labels: {}, exposedPorts: [] };

class FakeBuilds implements TemplateBuilds {
  requests: TemplateBuildRequest[] = [];
  info: TemplateBuildInfo | undefined;
  log: TemplateBuildLogEntry[] = [];
  async start(request: TemplateBuildRequest): Promise<TemplateBuildInfo> {
    this.requests.push(request);
    this.info = {
      id: "bld_1",
      templateName: "app",
      versionId: "tv_1",
      status: "building",
      stepsTotal: 3,
      stepsDone: 0,
      cacheHits: 0,
      startedAt: "2026-01-01T00:00:00.000Z",
    };
    return this.info;
  }
  async get(id: string) {
    return id === "bld_1" ? this.info : undefined;
  }
  async logs(_id: string, offset = 0) {
    return this.log.slice(offset);
  }
  async wait(): Promise<TemplateBuildInfo> {
    throw new Error("unused");
  }
}

function fakeCatalog(): TemplateCatalog {
  const resolved: ResolvedTemplate = { versionId: "tv_base", templateName: "base", layerDirs: [], config: CONFIG };
  return {
    resolve: async () => resolved,
    version: async () => resolved,
    list: async () => [],
    get: async () => undefined,
    tag: async () => undefined,
    untag: async () => false,
    remove: async () => false,
  };
}

function fakeContexts(): TemplateContexts & { stored: Set<string> } {
  const stored = new Set<string>();
  return {
    stored,
    has: (h) => stored.has(h),
    async put(body) {
      const hash = createHash("sha256");
      for await (const chunk of body) hash.update(chunk);
      const hex = hash.digest("hex");
      stored.add(hex);
      return hex;
    },
  };
}

async function* bytes(s: string): AsyncIterable<Uint8Array> {
  yield new TextEncoder().encode(s);
}

describe("E2bTemplates over the template services", () => {
  it("hands out an upload link for missing files, maps the files hash to the stored archive, then says present", async () => {
    const contexts = fakeContexts();
    const t = new E2bTemplates({ catalog: fakeCatalog(), builds: new FakeBuilds(), contexts });
    const first = t.fileStatus(HASH);
    expect(first.present).toBe(false);
    if (first.present) throw new Error("unreachable");
    await expect(t.upload(HASH, "wrong-token", bytes("tar"))).rejects.toMatchObject({ code: "unauthorized" });
    await t.upload(HASH, first.token, bytes("tar"));
    expect(t.fileStatus(HASH)).toEqual({ present: true });
    expect(t.contextOf(HASH)).toBe(createHash("sha256").update("tar").digest("hex"));
    // A token is used up by its upload.
    await expect(t.upload(HASH, first.token, bytes("tar"))).rejects.toMatchObject({ code: "unauthorized" });
    expect(code(() => t.fileStatus("not-a-hash"))).toBe("validation_failed");
  });

  it("waits until started, starts one Burrow build with name:tag and extra tags, maps log and failure steps to E2B steps", async () => {
    const builds = new FakeBuilds();
    const t = new E2bTemplates({ catalog: fakeCatalog(), builds, contexts: fakeContexts() });
    const requested = t.request("app", ["v1", "prod"]);
    expect((await t.status("app", requested.buildID, 0, undefined)).status).toBe("waiting");
    expect(await codeOf(() => t.status("other", requested.buildID, 0, undefined))).toBe("template_build_not_found");

    await t.start("app", requested.buildID, {
      fromTemplate: "base",
      steps: [
        { type: "RUN", args: ["echo a"] },
        { type: "RUN", args: ["exit 3", "user"] },
      ],
    });
    expect(builds.requests[0]).toEqual({
      name: "app:v1",
      tags: ["prod"],
      from: { template: "base" },
      steps: [
        { type: "run", shell: "echo a" },
        { type: "user", user: "user" },
        { type: "run", shell: "exit 3" },
        { type: "user", user: "root" },
      ],
    });
    await expect(t.start("app", requested.buildID, {})).rejects.toMatchObject({ code: "conflict" });

    builds.log = [
      { at: "2026-01-01T00:00:01.000Z", level: "info", message: "step 1/4: RUN echo a: running", step: 1 },
      { at: "2026-01-01T00:00:02.000Z", level: "error", message: "build failed", step: 3 },
    ];
    if (!builds.info) throw new Error("no build");
    builds.info.status = "error";
    builds.info.error = { message: "step 3/4 failed with exit code 3", step: 3, exitCode: 3, logTail: "boom" };
    const status = await t.status("app", requested.buildID, 1, undefined);
    expect(status.status).toBe("error");
    expect(status.logEntries).toEqual([
      { timestamp: "2026-01-01T00:00:02.000Z", level: "error", message: "build failed", step: "2" },
    ]);
    expect(status.reason).toEqual({ message: "step 3/4 failed with exit code 3:\nboom", step: "2" });
    expect(await t.buildIdOf("tv_1")).toBe(requested.buildID);
  });
});
