import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { TemplateBuildInfo } from "@burrow/core";
import { Sandbox } from "@burrow/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliMain, runNode, startTestServer, type TestServer } from "./harness.js";
import { makeOciArchive } from "./oci-image.js";

// OCI image archives as templates, real gVisor: `burrow template import` and `FROM oci-archive:`.
describe("templates from OCI image archives", () => {
  let server: TestServer;
  let image: { dir: string; archive: string };
  let imageHash = "";
  const opts = () => ({ apiUrl: server.url, apiKey: server.apiKey });

  const upload = async (bytes: Uint8Array<ArrayBuffer>) => {
    const res = await fetch(`${server.url}/v1/template-contexts`, {
      method: "POST",
      headers: { Authorization: `Bearer ${server.apiKey}`, "Content-Type": "application/x-tar" },
      body: bytes,
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { hash: string }).hash;
  };

  const build = async (name: string, body: Record<string, unknown>) => {
    const res = await server.request("POST", `/v1/templates/${name}/builds`, body);
    if (res.status !== 202) return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    const started = (await res.json()) as TemplateBuildInfo;
    const stream = await fetch(`${server.url}/v1/template-builds/${started.id}/logs?follow=1`, {
      headers: { Authorization: `Bearer ${server.apiKey}` },
    });
    const last = (await stream.text()).trim().split("\n").at(-1) ?? "{}";
    return { status: 202, build: (JSON.parse(last) as { build: TemplateBuildInfo }).build };
  };

  beforeAll(async () => {
    image = makeOciArchive("from-an-oci-image");
    server = await startTestServer();
    imageHash = await upload(new Uint8Array(readFileSync(image.archive)));
  }, 60_000);

  afterAll(async () => {
    await server?.dispose();
    if (image) rmSync(image.dir, { recursive: true, force: true });
  });

  it("burrow template import makes a template whose sandboxes run on the image's files and env", async () => {
    const out = await runNode([cliMain, "template", "import", "imported", image.archive], server.clientEnv);
    expect(out.code, out.stderr).toBe(0);
    const sandbox = await Sandbox.create({ ...opts(), template: "imported" });
    try {
      expect((await sandbox.commands.run("cat /hello/marker.txt")).stdout).toBe("from-an-oci-image\n");
      expect((await sandbox.commands.run("echo $FOO")).stdout).toBe("bar\n");
      // Nothing of the base template is there: the image is the whole root filesystem.
      expect((await sandbox.commands.run("test -e /usr/bin/python3 && echo yes || echo no")).stdout).toBe("no\n");
    } finally {
      await sandbox.kill();
    }
  });

  it("FROM oci-archive:<sha256> builds on the image, unpacking it once", async () => {
    // Uploaded again: the CLI's import above uploaded the same bytes, deleted when its build ended.
    expect(await upload(new Uint8Array(readFileSync(image.archive)))).toBe(imageHash);
    const dockerfile = `FROM oci-archive:${imageHash}\nRUN echo built-on-top > /hello/built.txt\n`;
    const first = await build("ontop", { dockerfile });
    expect(first.build?.status, JSON.stringify(first)).toBe("ready");
    const sandbox = await Sandbox.create({ ...opts(), template: "ontop" });
    try {
      expect((await sandbox.commands.run("cat /hello/marker.txt /hello/built.txt")).stdout).toBe(
        "from-an-oci-image\nbuilt-on-top\n",
      );
    } finally {
      await sandbox.kill();
    }
    // The archive was deleted with the build that used it; the same bytes again, the same hash.
    expect((await server.request("GET", `/v1/template-contexts/${imageHash}`)).status).toBe(404);
    expect(await upload(new Uint8Array(readFileSync(image.archive)))).toBe(imageHash);
    const again = await build("ontop", { dockerfile });
    expect(again.build?.cacheHits).toBe(1); // same image, same layer: the RUN is a cache hit
  });

  it("burrow template export writes an OCI archive that imports under a new name with the build's files and config", async () => {
    await upload(new Uint8Array(readFileSync(image.archive)));
    const dockerfile = [
      `FROM oci-archive:${imageHash}`,
      "RUN mkdir -p /made && echo put-there-by-the-build > /made/exported.txt",
      "ENV MODE=exported",
      "WORKDIR /made",
    ].join("\n");
    const built = await build("exp-src", { dockerfile, tags: ["v1"] });
    expect(built.build?.status, JSON.stringify(built)).toBe("ready");
    const file = join(image.dir, "exported.tar");
    const out = await runNode([cliMain, "template", "export", "exp-src:v1", "-o", file], server.clientEnv);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toContain(`exp-src:v1 -> ${file}`);
    expect(existsSync(`${file}.partial`)).toBe(false);
    const imported = await runNode([cliMain, "template", "import", "exp-copy", file], server.clientEnv);
    expect(imported.code, imported.stderr).toBe(0);
    const sandbox = await Sandbox.create({ ...opts(), template: "exp-copy" });
    try {
      expect((await sandbox.commands.run("cat /made/exported.txt /hello/marker.txt")).stdout).toBe(
        "put-there-by-the-build\nfrom-an-oci-image\n",
      );
      expect((await sandbox.commands.run("echo $FOO $MODE; pwd")).stdout).toBe("bar exported\n/made\n");
    } finally {
      await sandbox.kill();
    }
    const res = await server.request("GET", "/v1/templates/exp-src/export?tag=nope");
    expect(res.status).toBe(404);
    const missing = await runNode([cliMain, "template", "export", "no-such-template", "-o", file], server.clientEnv);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain("not found");
    // The failed export left the earlier archive alone.
    expect(existsSync(file)).toBe(true);
  }, 180_000);

  it("answers 400 for host paths, unknown archives and archives that are not images", async () => {
    const hostPath = await build("bad", { from: { image: "oci-archive:/etc/passwd" }, steps: [] });
    expect(hostPath.status).toBe(400);
    expect(JSON.stringify(hostPath.body)).toContain("sha256");
    const unknown = await build("bad", { from: { image: `oci-archive:${"0".repeat(64)}` }, steps: [] });
    expect(unknown.status).toBe(400);
    const notImage = await upload(new Uint8Array(readFileSync(image.archive)).subarray(0, 0));
    const broken = await build("bad", { from: { image: `oci-archive:${notImage}` }, steps: [] });
    expect(broken.status).toBe(400);
    expect(JSON.stringify(broken.body)).toContain("cannot read the image");
  });
});
