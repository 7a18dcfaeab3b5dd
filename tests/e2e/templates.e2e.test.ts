import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TemplateBuildInfo, TemplateBuildLogEntry, TemplateInfo } from "@burrow/core";
import { Sandbox } from "@burrow/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliMain, runNode, startTestServer, type TestServer } from "./harness.js";
import { type TarEntry, tarOf } from "./template-tar.js";

interface FollowResult {
  logs: TemplateBuildLogEntry[];
  build: TemplateBuildInfo;
}

// Template builds with real gVisor: every RUN and COPY runs in a build sandbox.
describe("templates built from Dockerfiles", () => {
  let server: TestServer;
  const opts = () => ({ apiUrl: server.url, apiKey: server.apiKey });

  const upload = async (entries: TarEntry[]) =>
    fetch(`${server.url}/v1/template-contexts`, {
      method: "POST",
      headers: { Authorization: `Bearer ${server.apiKey}`, "Content-Type": "application/x-tar" },
      body: new Uint8Array(tarOf(entries)),
    });

  /** Starts a build and follows its log stream to the end. */
  const build = async (name: string, body: Record<string, unknown>): Promise<FollowResult> => {
    const res = await server.request("POST", `/v1/templates/${name}/builds`, body);
    expect(res.status, await res.clone().text()).toBe(202);
    const started = (await res.json()) as TemplateBuildInfo;
    const stream = await fetch(`${server.url}/v1/template-builds/${started.id}/logs?follow=1`, {
      headers: { Authorization: `Bearer ${server.apiKey}` },
    });
    const lines = (await stream.text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const logs = lines.filter((l) => "log" in l).map((l) => l.log as TemplateBuildLogEntry);
    const last = lines.at(-1) as { build: TemplateBuildInfo };
    return { logs, build: last.build };
  };
  const text = (logs: TemplateBuildLogEntry[]) => logs.map((l) => l.message).join("\n");

  let contextHash = "";
  /** Uploads the app context (again: a context is deleted when the build that used it ends). */
  const appContext = async () => {
    const res = await upload([
      { path: "app/", type: "dir" },
      { path: "app/hello.txt", content: "hello from the context\n" },
      { path: "app/bin/", type: "dir" },
      { path: "app/bin/tool.sh", content: "#!/bin/sh\necho tool\n", mode: 0o755 },
    ]);
    expect(res.status).toBe(201);
    return ((await res.json()) as { hash: string }).hash;
  };
  const dockerfile = (last: string) => `FROM base
ARG GREETING=hello
ENV APP_HOME=/opt/app
RUN mkdir -p $APP_HOME && echo "$GREETING from $APP_HOME" > $APP_HOME/greeting
COPY --chown=1000:1000 app/ /opt/app/files/
WORKDIR /opt/app
RUN ${last}
`;
  let firstVersion = "";

  beforeAll(async () => {
    server = await startTestServer();
    contextHash = await appContext();
  });

  afterAll(async () => {
    await server?.dispose();
  });

  it("builds a Dockerfile into a template whose sandboxes see its files, env and COPY --chown ownership", async () => {
    const { logs, build: b } = await build("myapp", { dockerfile: dockerfile("echo one > last.txt"), contextHash });
    expect(b.status, text(logs)).toBe("ready");
    // Its context went with the build.
    expect((await server.request("GET", `/v1/template-contexts/${contextHash}`)).status).toBe(404);
    contextHash = await appContext();
    expect(b.stepsTotal).toBe(3);
    expect(text(logs)).toContain("step 2/5: RUN mkdir -p $APP_HOME");
    firstVersion = b.versionId;
    const sandbox = await Sandbox.create({ ...opts(), template: "myapp" });
    try {
      expect((await sandbox.getInfo()).templateVersion).toBe(firstVersion);
      const r = await sandbox.commands.run(
        "cat /opt/app/greeting; cat /opt/app/last.txt; stat -c %u:%g /opt/app/files/hello.txt /opt/app/files/bin/tool.sh; /opt/app/files/bin/tool.sh; echo $APP_HOME",
        { user: "root" },
      );
      expect(r.stdout.split("\n")).toEqual([
        "hello from /opt/app",
        "one",
        "1000:1000",
        "1000:1000",
        "tool",
        "/opt/app",
        "",
      ]);
    } finally {
      await sandbox.kill();
    }
  });

  it("reruns only the changed last step on a second build, logging cache hits", async () => {
    const { logs, build: b } = await build("myapp", { dockerfile: dockerfile("echo two > last.txt"), contextHash });
    expect(b.status, text(logs)).toBe("ready");
    expect(b.cacheHits).toBe(2);
    expect(text(logs)).toMatch(/step 2\/5: RUN mkdir[^\n]*: cache hit/);
    expect(text(logs)).toMatch(/step 3\/5: COPY[^\n]*: cache hit/);
    expect(text(logs)).toContain("step 5/5: RUN echo two > last.txt: running");
    const sandbox = await Sandbox.create({ ...opts(), template: "myapp:latest" });
    try {
      expect((await sandbox.commands.run("cat /opt/app/last.txt")).stdout).toBe("two\n");
    } finally {
      await sandbox.kill();
    }
  });

  it("streams a RUN's output into the build log while the step still runs", async () => {
    const slow = "FROM base\nRUN echo first-line-early && sleep 20 && echo second-line-late\n";
    const res = await server.request("POST", "/v1/templates/streamed/builds", { dockerfile: slow });
    expect(res.status, await res.clone().text()).toBe(202);
    const started = (await res.json()) as TemplateBuildInfo;
    const stream = await fetch(`${server.url}/v1/template-builds/${started.id}/logs?follow=1`, {
      headers: { Authorization: `Bearer ${server.apiKey}` },
    });
    const decoder = new TextDecoder();
    let seen = "";
    let snapshot: { build: TemplateBuildInfo; logs: TemplateBuildLogEntry[] } | undefined;
    for await (const chunk of stream.body as unknown as AsyncIterable<Uint8Array>) {
      seen += decoder.decode(chunk, { stream: true });
      if (snapshot === undefined && seen.includes('"message":"  first-line-early"')) {
        // The first line is in the log; the step (sleeping) has not finished.
        const now = await server.request("GET", `/v1/template-builds/${started.id}/logs`);
        snapshot = (await now.json()) as { build: TemplateBuildInfo; logs: TemplateBuildLogEntry[] };
      }
    }
    expect(snapshot, seen).toBeDefined();
    expect(snapshot?.build.status).toBe("building");
    expect(snapshot?.build.stepsDone).toBe(0);
    const outputLines = (logs: TemplateBuildLogEntry[]) => logs.map((l) => l.message).filter((m) => m.startsWith("  "));
    expect(outputLines(snapshot?.logs ?? [])).toEqual(["  first-line-early"]);
    expect(seen).toContain('"message":"  second-line-late"');
    expect(seen).toMatch(/"status":"ready"/);
    // The log holds each line once (not again when the step ends).
    const all = (await (await server.request("GET", `/v1/template-builds/${started.id}/logs`)).json()) as {
      logs: TemplateBuildLogEntry[];
    };
    expect(outputLines(all.logs)).toEqual(["  first-line-early", "  second-line-late"]);
    expect((await server.request("DELETE", "/v1/templates/streamed")).status).toBe(204);
  }, 180_000);

  it("fails a build whose RUN exits non-zero with the exit code, step and log tail; the previous version stays current", async () => {
    const before = (await (await server.request("GET", "/v1/templates/myapp")).json()) as TemplateInfo;
    const { build: b } = await build("myapp", {
      dockerfile: "FROM myapp\nRUN echo prepared > /prepared\nRUN echo about to fail; exit 7\n",
    });
    expect(b.status).toBe("error");
    expect(b.error).toMatchObject({ step: 2, exitCode: 7 });
    expect(b.error?.logTail).toContain("about to fail");
    const after = (await (await server.request("GET", "/v1/templates/myapp")).json()) as TemplateInfo;
    expect(after.tags.latest).toBe(before.tags.latest);
    // The fixed build reuses the step that succeeded; its version is not tagged (it is a different name).
    const fixed = await build("myapp-fixed", {
      dockerfile: "FROM myapp\nRUN echo prepared > /prepared\nRUN echo fixed\n",
    });
    expect(fixed.build.status, text(fixed.logs)).toBe("ready");
    expect(text(fixed.logs)).toMatch(/step 1\/2: RUN echo prepared[^\n]*: cache hit/);
    expect((await server.request("DELETE", "/v1/templates/myapp-fixed")).status).toBe(204);
  });

  it("keeps a RUN away from the host: host paths it writes stay in the sandbox, the Burrow API is out of reach", async () => {
    const marker = join(server.dataDir, "written-by-a-build-step");
    const port = new URL(server.url).port;
    const { logs, build: b } = await build("escape", {
      dockerfile: `FROM base
RUN mkdir -p ${server.dataDir} && echo pwned > ${marker} && cat ${marker}
RUN ns=$(awk '/^nameserver/{print $2}' /etc/resolv.conf); for h in $ns 127.0.0.1; do timeout 5 bash -c "exec 3<>/dev/tcp/$h/${port}" && echo REA""CHED $h; done; exit 0
RUN curl -sS -m 5 -H 'Authorization: Bearer x' ${server.url}/v1/health && echo API-ANS""WERED; exit 0
`,
    });
    expect(b.status, text(logs)).toBe("ready");
    expect(text(logs)).toContain("pwned");
    expect(existsSync(marker)).toBe(false);
    expect(text(logs)).not.toContain("REACHED");
    expect(text(logs)).not.toContain("API-ANSWERED");
    expect((await server.request("DELETE", "/v1/templates/escape")).status).toBe(204);
  });

  it("moves tags, answers 409 naming the sandboxes for a version in use, and collects the layers after deletion", async () => {
    const tagged = await server.request("PUT", "/v1/templates/myapp/tags/stable", { versionId: firstVersion });
    expect(tagged.status).toBe(200);
    const sandbox = await Sandbox.create({ ...opts(), template: "myapp:stable" });
    const forks: string[] = [];
    try {
      expect((await sandbox.commands.run("cat /opt/app/last.txt")).stdout).toBe("one\n");
      // Hibernation, wake and forks mount the version's layer stack, not what latest points at now.
      await sandbox.commands.run("echo mine > /opt/app/mine.txt", { user: "root" });
      expect((await sandbox.hibernate()).state).toBe("hibernated");
      expect((await sandbox.commands.run("cat /opt/app/last.txt /opt/app/mine.txt")).stdout).toBe("one\nmine\n");
      const ck = await sandbox.checkpoints.create();
      const fork = await sandbox.checkpoints.fork(ck.id);
      forks.push(...fork.sandboxIds);
      const forked = await Sandbox.connect(fork.sandboxIds[0] as string, opts());
      expect((await forked.commands.run("cat /opt/app/last.txt /opt/app/mine.txt")).stdout).toBe("one\nmine\n");
      const inUse = await server.request("DELETE", `/v1/templates/myapp/versions/${firstVersion}`);
      expect(inUse.status).toBe(409);
      expect(await inUse.text()).toContain(sandbox.sandboxId);
    } finally {
      await sandbox.kill();
      for (const id of forks) await server.request("DELETE", `/v1/sandboxes/${id}`);
    }
    const layersBefore = readdirSync(join(server.dataDir, "layers")).length;
    expect((await server.request("DELETE", "/v1/templates/myapp")).status).toBe(204);
    const layersAfter = readdirSync(join(server.dataDir, "layers")).length;
    expect(layersAfter).toBeLessThan(layersBefore);
    expect(layersAfter).toBe(0);
  });

  it("builds, lists, tags and removes templates with the CLI, streaming the build log", async () => {
    const dir = mkdtempSync(join(tmpdir(), "burrow-tplcli-"));
    try {
      mkdirSync(join(dir, "conf"));
      writeFileSync(join(dir, "conf", "app.ini"), "[app]\nname=cli\n");
      symlinkSync("app.ini", join(dir, "conf", "current.ini"));
      writeFileSync(
        join(dir, "Dockerfile"),
        "FROM base\nCOPY conf /etc/myapp/\nRUN readlink /etc/myapp/current.ini && cat /etc/myapp/current.ini\n",
      );
      const cli = (...args: string[]) => runNode([cliMain, ...args], server.clientEnv);
      const built = await cli("template", "build", "clitpl:v1", "-t", "latest", dir);
      expect(built.code, built.stderr).toBe(0);
      expect(built.stdout).toContain("step 1/2: COPY conf /etc/myapp/: running");
      expect(built.stdout).toContain("  app.ini\n  [app]");
      expect(built.stdout).toMatch(/built clitpl:v1,latest = tv_/);
      const ls = await cli("template", "ls");
      expect(ls.stdout).toMatch(/^clitpl\t1 version\(s\)\tlatest=tv_\S+ v1=tv_/m);
      const info = JSON.parse((await cli("template", "info", "clitpl", "--json")).stdout) as TemplateInfo;
      const version = info.tags.v1 as string;
      expect((await cli("template", "tag", "clitpl:stable", version)).stdout).toContain(`clitpl:stable -> ${version}`);
      const failed = await cli("template", "build", "clitpl", "-f", join(dir, "Dockerfile.missing"), dir);
      expect(failed.code).not.toBe(0);
      expect((await cli("template", "rm", "clitpl")).code).toBe(0);
      expect((await cli("template", "info", "clitpl")).code).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("answers 400 for bad input: unknown instruction, missing COPY source, escaping paths and links, unknown base, bad tag", async () => {
    const start = (name: string, body: Record<string, unknown>) =>
      server.request("POST", `/v1/templates/${name}/builds`, body);
    const expect400 = async (res: Response, ...parts: string[]) => {
      const body = await res.text();
      expect(res.status, body).toBe(400);
      for (const p of parts) expect(body).toContain(p);
    };
    contextHash = await appContext();
    await expect400(await start("bad", { dockerfile: "FROM base\nSTOPSIGNAL SIGINT\n" }), "line 2", "STOPSIGNAL");
    await expect400(await start("bad", { dockerfile: "FROM base\nCOPY nothere /x\n", contextHash }), "nothere");
    await expect400(await start("bad", { dockerfile: "FROM no-such-base\nRUN true\n" }), "no-such-base");
    await expect400(await start("bad:no good", { dockerfile: "FROM base\n" }));
    await expect400(await start("bad", { dockerfile: "FROM base\nCOPY ../x /x\n", contextHash }), "..");
    await expect400(await upload([{ path: "../evil", content: "x" }]), "..");
    await expect400(await upload([{ path: "/etc/evil", content: "x" }]), "absolute");
    await expect400(await upload([{ path: "link", type: "symlink", link: "../../etc" }]), "outside");
    await expect400(
      await upload([
        { path: "dir", type: "symlink", link: "sub" },
        { path: "dir/file", content: "x" },
      ]),
      "below a symlink",
    );
  });
});
