import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BuildError, Sandbox, Template, waitForFile } from "e2b";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";

// The official e2b SDK's Template builder against Burrow (issue #12 item 6), real gVisor builds.
describe("e2b SDK Template builder against Burrow", () => {
  let server: TestServer;
  let key: string;
  let context: string;
  const opts = () => ({ apiKey: key, apiUrl: server.url, sandboxUrl: server.url });

  beforeAll(async () => {
    server = await startTestServer();
    key = readFileSync(join(server.dataDir, "e2b-api-key"), "utf8").trim();
    context = mkdtempSync(join(tmpdir(), "e2b-template-ctx-"));
    mkdirSync(join(context, "app"));
    writeFileSync(join(context, "app", "hello.txt"), "hello from the copy\n");
  });

  afterAll(async () => {
    await server?.dispose();
    if (context) rmSync(context, { recursive: true, force: true });
  });

  const template = () =>
    Template({ fileContextPath: context })
      .fromTemplate("base")
      .runCmd("mkdir -p /opt/made && echo built-by-run > /opt/made/marker", { user: "root" })
      .copy("app", "/srv/app/")
      .setEnvs({ GREETING: "hi-from-env" })
      .setWorkdir("/srv/app");

  it("builds with Template.build (logs streamed), Sandbox.create(alias) sees files, env and workdir; a rebuild hits the cache", async () => {
    const alias = "e2b-tpl-e2e";
    const logs: string[] = [];
    const built = await Template.build(template(), { alias, ...opts(), onBuildLogs: (e) => logs.push(e.message) });
    expect(built.templateId).toBe(alias);
    const text = logs.join("\n");
    expect(text).toMatch(/Uploaded 'app'/);
    expect(text).toMatch(/RUN mkdir -p \/opt\/made.*: running/);
    expect(text).toMatch(/COPY .*app \/srv\/app\/: running/);
    expect(text).toMatch(/built e2b-tpl-e2e:latest/);
    expect(await Template.exists(alias, opts())).toBe(true);
    expect(await Template.exists("e2b-tpl-missing", opts())).toBe(false);

    const sandbox = await Sandbox.create(alias, opts());
    try {
      const r = await sandbox.commands.run(
        'cat /opt/made/marker /srv/app/hello.txt && echo "$GREETING" && pwd && ls /srv/app',
      );
      expect(r.stdout).toBe("built-by-run\nhello from the copy\nhi-from-env\n/srv/app\nhello.txt\n");
    } finally {
      await Sandbox.kill(sandbox.sandboxId, opts());
    }

    const again: string[] = [];
    await Template.build(template(), { alias, ...opts(), onBuildLogs: (e) => again.push(e.message) });
    const second = again.join("\n");
    // Burrow deletes a build's uploaded files when it ends: the SDK is told to upload them again.
    expect(second).toMatch(/Uploaded 'app'/);
    expect(second).toMatch(/RUN mkdir -p \/opt\/made.*: cache hit/);
    expect(second).toMatch(/COPY .*: cache hit/);
    expect(second).toMatch(/2\/2 layer steps from cache/);

    const tags = await Template.getTags(alias, opts());
    expect(tags.map((t) => t.tag)).toEqual(["latest"]);
    const res = await fetch(`${server.url}/templates/${alias}`, { method: "DELETE", headers: { "X-API-KEY": key } });
    expect(res.status).toBe(204);
  });

  it("a failing runCmd fails Template.build with the SDK's BuildError naming the exit code and output", async () => {
    const failing = Template({ fileContextPath: context })
      .fromTemplate("base")
      .runCmd("echo output-before-failing; exit 3");
    const err = await Template.build(failing, { alias: "e2b-tpl-fails", ...opts() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BuildError);
    expect((err as Error).message).toMatch(/failed with exit code 3/);
    expect((err as Error).message).toMatch(/output-before-failing/);
    expect(await Template.exists("e2b-tpl-fails", opts())).toBe(false);
  });

  it("setStartCmd with a ready check: Sandbox.create answers once the start command is ready", async () => {
    const alias = "e2b-tpl-start";
    const t = Template({ fileContextPath: context })
      .fromTemplate("base")
      .setStartCmd("sh -c 'sleep 1; echo started > /tmp/ready; sleep infinity'", waitForFile("/tmp/ready"));
    await Template.build(t, { alias, ...opts() });
    const sandbox = await Sandbox.create(alias, opts());
    try {
      expect((await sandbox.commands.run("cat /tmp/ready")).stdout).toBe("started\n");
    } finally {
      await Sandbox.kill(sandbox.sandboxId, opts());
    }
  });
});
