import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { TemplateBuildInfo, TemplateBuildLogEntry } from "@burrow/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runscContainers, startTestServer, type TestServer } from "./harness.js";

// A server SIGKILLed in the middle of a template build, with real runsc.
describe("template builds across a SIGKILL", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    // dispose also checks that no sandbox (the build's hidden one included) is left on the host.
    await server?.dispose();
  });

  it("marks the build failed at the next start, deletes its build sandbox and leaves no half layer", async () => {
    const res = await server.request("POST", "/v1/templates/killed/builds", {
      dockerfile: "FROM base\nRUN echo first > /first\nRUN echo started; sleep 300\n",
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as TemplateBuildInfo;
    // Follow the log until the long step has started in its build sandbox.
    const stream = await fetch(`${server.url}/v1/template-builds/${id}/logs?follow=1`, {
      headers: { Authorization: `Bearer ${server.apiKey}` },
    });
    const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
    let seen = "";
    while (!seen.includes("step 2/2: RUN echo started; sleep 300: running")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the log ended early: ${seen}`);
      seen += Buffer.from(value).toString("utf8");
    }
    await reader.cancel();
    // The step's build sandbox starts right after that line.
    while (runscContainers(server.dataDir).length === 0) await new Promise((r) => setTimeout(r, 100));
    await server.stop("SIGKILL");

    server = await startTestServer(server.dataDir);
    const build = (await (await server.request("GET", `/v1/template-builds/${id}`)).json()) as TemplateBuildInfo;
    expect(build.status).toBe("error");
    expect(build.error?.message).toContain("server stopped during the build");
    const logs = (await (await server.request("GET", `/v1/template-builds/${id}/logs`)).json()) as {
      logs: TemplateBuildLogEntry[];
    };
    expect(logs.logs.at(-1)?.message).toContain("the server stopped during the build");
    expect(runscContainers(server.dataDir)).toEqual([]);
    expect((await server.request("GET", "/v1/templates/killed")).status).toBe(404);
    // The first step's layer was made by a build no version uses: collected at start, like any temporary one.
    expect(readdirSync(join(server.dataDir, "layers")).filter((n) => n.includes(".tmp-"))).toEqual([]);
    expect(readdirSync(join(server.dataDir, "layers"))).toEqual([]);
  });
});
