import type { TemplateBuildInfo } from "@burrow/core";
import { BurrowError, Sandbox } from "@burrow/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";

// Templates with start and ready commands, real gVisor: create answers once the start command is
// ready, and a start command that never gets ready fails the create with its output, leaving
// nothing behind.
describe("template start and ready commands", () => {
  let server: TestServer;
  const opts = () => ({ apiUrl: server.url, apiKey: server.apiKey });

  /** Builds a template and waits for the build to finish. */
  const build = async (name: string, body: Record<string, unknown>): Promise<TemplateBuildInfo> => {
    const res = await server.request("POST", `/v1/templates/${name}/builds`, body);
    expect(res.status, await res.clone().text()).toBe(202);
    const started = (await res.json()) as TemplateBuildInfo;
    const stream = await fetch(`${server.url}/v1/template-builds/${started.id}/logs?follow=1`, {
      headers: { Authorization: `Bearer ${server.apiKey}` },
    });
    const last = (await stream.text()).trim().split("\n").at(-1) ?? "{}";
    return (JSON.parse(last) as { build: TemplateBuildInfo }).build;
  };

  const liveSandboxes = async () =>
    ((await (await server.request("GET", "/v1/sandboxes")).json()) as { sandboxes: { id: string }[] }).sandboxes.length;

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server?.dispose();
  });

  it("CMD starts a server that takes a while to boot; create answers once HEALTHCHECK passes", async () => {
    const b = await build("slowserver", {
      dockerfile: `FROM base
RUN mkdir -p /srv && echo served-by-the-template > /srv/index.html
CMD ["sh", "-c", "sleep 2; cd /srv && exec python3 -m http.server 8000"]
HEALTHCHECK --interval=1s CMD curl -sf http://127.0.0.1:8000/
`,
    });
    expect(b.status).toBe("ready");
    const sandbox = await Sandbox.create({ ...opts(), template: "slowserver" });
    try {
      // Ready at create: the very first exec finds the server answering.
      const first = await sandbox.commands.run("curl -sf http://127.0.0.1:8000/");
      expect(first.stdout).toBe("served-by-the-template\n");
      const processes = await sandbox.commands.list();
      expect(processes.some((p) => p.tag === "burrow-start")).toBe(true);
      // The ready checks left no connection from the host open: a full checkpoint goes through at once.
      expect((await sandbox.checkpoints.create({ mode: "full" })).mode).toBe("full");
    } finally {
      await sandbox.kill();
    }
  });

  it("a ready port works too, through the structured build", async () => {
    const b = await build("portready", {
      from: { template: "base" },
      steps: [],
      start: { startCmd: "sleep 1; exec python3 -m http.server 9000 --directory /etc", readyPort: 9000 },
    });
    expect(b.status).toBe("ready");
    const sandbox = await Sandbox.create({ ...opts(), template: "portready" });
    try {
      expect(
        (await sandbox.commands.run("curl -sf -o /dev/null -w '%{http_code}' http://127.0.0.1:9000/hostname")).stdout,
      ).toBe("200");
    } finally {
      await sandbox.kill();
    }
  });

  it("a ready port counts inside the sandbox: a server on 127.0.0.1 only, with the template's env", async () => {
    const b = await build("localready", {
      from: { template: "base" },
      steps: [{ type: "env", vars: { PAGE_DIR: "/etc" } }],
      start: {
        startCmd: 'sleep 1; exec python3 -m http.server 9100 --bind 127.0.0.1 --directory "$PAGE_DIR"',
        readyPort: 9100,
        readyTimeoutMs: 30_000,
      },
    });
    expect(b.status).toBe("ready");
    const sandbox = await Sandbox.create({ ...opts(), template: "localready" });
    try {
      expect(
        (await sandbox.commands.run("curl -sf -o /dev/null -w '%{http_code}' http://127.0.0.1:9100/hostname")).stdout,
      ).toBe("200");
    } finally {
      await sandbox.kill();
    }
  });

  it("a start command that exits before it is ready fails the create with its output, and nothing is left", async () => {
    const b = await build("brokenstart", {
      from: { template: "base" },
      steps: [],
      start: {
        startCmd: "echo listening soon; echo missing-config >&2; exit 3",
        readyCmd: "false",
        readyTimeoutMs: 20_000,
      },
    });
    expect(b.status).toBe("ready");
    const before = await liveSandboxes();
    const err = await Sandbox.create({ ...opts(), template: "brokenstart" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BurrowError);
    expect((err as BurrowError).code).toBe("template_start_failed");
    expect((err as BurrowError).message).toContain("exited before it was ready");
    expect(JSON.stringify((err as BurrowError).details)).toContain("missing-config");
    expect(await liveSandboxes()).toBe(before);
  });
});
