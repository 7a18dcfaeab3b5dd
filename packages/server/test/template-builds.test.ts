import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TemplateBuildInfo, TemplateInfo } from "@burrow/core";
import { describe, expect, it } from "vitest";
import { openDb } from "../src/store/db.js";
import { SqliteTemplateStore } from "../src/store/template-store.js";
import { type FakeServer, startFakeServer } from "./fake-server.js";

const call = (fake: FakeServer, method: string, path: string, body?: unknown) =>
  fetch(`${fake.server.url}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${fake.key}`,
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

async function finished(fake: FakeServer, id: string): Promise<TemplateBuildInfo> {
  const res = await fetch(`${fake.server.url}/v1/template-builds/${id}/logs?follow=1`, {
    headers: { Authorization: `Bearer ${fake.key}` },
  });
  const lines = (await res.text()).trim().split("\n");
  return (JSON.parse(lines.at(-1) as string) as { build: TemplateBuildInfo }).build;
}

// Component tests: the real server and builder with the fake runtime (steps "run" and succeed).
describe("template builds (fake runtime)", () => {
  it("shares one run of a step between two concurrent builds of the same steps; both succeed", async () => {
    const fake = await startFakeServer();
    try {
      let creates = 0;
      const create = fake.runtime.create.bind(fake.runtime);
      fake.runtime.create = async (spec) => {
        creates++;
        await new Promise((r) => setTimeout(r, 50));
        return create(spec);
      };
      const body = { dockerfile: "FROM base\nRUN make all\n" };
      const [a, b] = await Promise.all([
        call(fake, "POST", "/v1/templates/one/builds", body),
        call(fake, "POST", "/v1/templates/two/builds", body),
      ]);
      expect(a.status).toBe(202);
      expect(b.status).toBe(202);
      const [da, db] = await Promise.all([
        finished(fake, ((await a.json()) as TemplateBuildInfo).id),
        finished(fake, ((await b.json()) as TemplateBuildInfo).id),
      ]);
      expect([da.status, db.status]).toEqual(["ready", "ready"]);
      expect(creates).toBe(1);
      const one = (await (await call(fake, "GET", "/v1/templates/one")).json()) as TemplateInfo;
      const two = (await (await call(fake, "GET", "/v1/templates/two")).json()) as TemplateInfo;
      expect(one.versions[0]?.layers).toEqual(two.versions[0]?.layers);
      // The build sandbox is gone and never listed.
      const list = (await (await call(fake, "GET", "/v1/sandboxes")).json()) as { sandboxes: unknown[] };
      expect(list.sandboxes).toEqual([]);
      expect(fake.runtime.sandboxes.size).toBe(0);
    } finally {
      await fake.close();
    }
  });

  it("deletes a build's uploaded context when the build ends, and every context left at start", async () => {
    const fake = await startFakeServer();
    const dataDir = fake.dataDir;
    const upload = async (content: string) => {
      const dir = mkdtempSync(join(tmpdir(), "burrow-ctxsrc-"));
      try {
        writeFileSync(join(dir, "f.txt"), content);
        const bytes = execFileSync("tar", ["-cf", "-", "-C", dir, "f.txt"]);
        const res = await fetch(`${fake.server.url}/v1/template-contexts`, {
          method: "POST",
          headers: { Authorization: `Bearer ${fake.key}`, "Content-Type": "application/x-tar" },
          body: new Uint8Array(bytes),
        });
        expect(res.status).toBe(201);
        return ((await res.json()) as { hash: string }).hash;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    };
    let again: FakeServer | undefined;
    try {
      const used = await upload("for the build");
      const unused = await upload("never built");
      const res = await call(fake, "POST", "/v1/templates/ctx/builds", {
        dockerfile: "FROM base\nCOPY f.txt /f.txt\n",
        contextHash: used,
      });
      expect(res.status).toBe(202);
      expect((await finished(fake, ((await res.json()) as TemplateBuildInfo).id)).status).toBe("ready");
      expect((await call(fake, "GET", `/v1/template-contexts/${used}`)).status).toBe(404);
      expect((await call(fake, "GET", `/v1/template-contexts/${unused}`)).status).toBe(200);
      await fake.server.close();
      again = await startFakeServer({}, dataDir);
      expect((await call(again, "GET", `/v1/template-contexts/${unused}`)).status).toBe(404);
      expect(readdirSync(join(dataDir, "template-contexts"))).toEqual([]);
    } finally {
      if (again) await again.close();
      else await fake.close();
    }
  });

  it("marks builds a SIGKILL left running as failed at start and removes their half-made layers", async () => {
    const fake = await startFakeServer();
    const dataDir = fake.dataDir;
    await fake.server.close();
    // What a server killed mid-build leaves: a build row still 'building' and a temporary layer.
    const db = openDb(join(dataDir, "burrow.db"));
    await new SqliteTemplateStore(db).insertBuild(
      {
        id: "bld_aaaaaaaaaaaaaaaaaaaa",
        templateName: "app",
        versionId: "tv_aaaaaaaaaaaaaaaaaaaa",
        status: "building",
        stepsTotal: 2,
        stepsDone: 1,
        cacheHits: 0,
        startedAt: new Date().toISOString(),
      },
      {},
    );
    db.close();
    const half = join(dataDir, "layers", "0123456789ab.tmp-0123456789ab");
    mkdirSync(join(half, "usr"), { recursive: true });
    const again = await startFakeServer({}, dataDir);
    try {
      const res = await call(again, "GET", "/v1/template-builds/bld_aaaaaaaaaaaaaaaaaaaa");
      const build = (await res.json()) as TemplateBuildInfo;
      expect(build.status).toBe("error");
      expect(build.error?.message).toContain("server stopped");
      expect(existsSync(half)).toBe(false);
      expect(readdirSync(join(dataDir, "layers"))).toEqual([]);
      expect((await call(again, "GET", "/v1/templates/app")).status).toBe(404);
      expect((await call(again, "GET", "/v1/template-builds/bld_nope")).status).toBe(404);
    } finally {
      await again.close();
    }
  });

  it("does not hand out a warm sandbox of a version the tag has moved away from", async () => {
    const fake = await startFakeServer({ warmPool: { base: 1 } });
    try {
      const poolReady = async () => {
        for (;;) {
          const health = (await (await call(fake, "GET", "/v1/health")).json()) as {
            warmPool: Record<string, { ready: number }>;
          };
          if ((health.warmPool.base?.ready ?? 0) >= 1) return;
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      await poolReady();
      const started = await call(fake, "POST", "/v1/templates/base/builds", { dockerfile: "FROM base\nRUN true\n" });
      const build = await finished(fake, ((await started.json()) as TemplateBuildInfo).id);
      expect(build.status).toBe("ready");
      const created = (await (await call(fake, "POST", "/v1/sandboxes", { template: "base" })).json()) as {
        templateVersion: string;
      };
      expect(created.templateVersion).toBe(build.versionId);
    } finally {
      await fake.close();
    }
  });

  it("answers 400 for a FROM image archive named by a host path, and for too many layers", async () => {
    const fake = await startFakeServer();
    try {
      const image = await call(fake, "POST", "/v1/templates/img/builds", {
        dockerfile: "FROM oci-archive:/tmp/x.tar\n",
      });
      expect(image.status).toBe(400);
      expect(await image.text()).toContain("name an uploaded archive by its sha256");
      const deep = await call(fake, "POST", "/v1/templates/deep/builds", {
        dockerfile: `FROM base\n${"RUN true\n".repeat(45)}`,
      });
      expect(deep.status).toBe(400);
      expect(await deep.text()).toContain("at most 40");
    } finally {
      await fake.close();
    }
  });
});
