import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NodeRun, runNode, startTestServer, type TestServer } from "./harness.js";

const examplesDir = join(import.meta.dirname, "..", "..", "examples");

// The runnable examples in examples/, each as its own `node` process against a real server.
describe("examples", () => {
  let server: TestServer;

  const runExample = (name: string): Promise<NodeRun> => runNode([join(examplesDir, name)], server.clientEnv);

  const expectSuccess = (run: NodeRun) => {
    expect(run.code, `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`).toBe(0);
  };

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server?.dispose();
  });

  it("quickstart.mjs runs python, writes and reads a file", async () => {
    const run = await runExample("quickstart.mjs");
    expectSuccess(run);
    expect(run.stdout).toMatch(/^python 3\.\S+ says 42$/m);
    expect(run.stdout).toContain("read back: hello from the host");
    expect(run.stdout).toMatch(/^deleted sb_/m);
  });

  it("background-server.mjs serves a page to curl and kills the server", async () => {
    const run = await runExample("background-server.mjs");
    expectSuccess(run);
    expect(run.stdout).toContain("curl inside the sandbox got: <h1>hello from a sandbox</h1>");
    expect(run.stdout).toContain("background-server ok");
  });

  it("sleep-and-wake.mjs keeps the same PID counting across hibernation", async () => {
    const run = await runExample("sleep-and-wake.mjs");
    expectSuccess(run);
    expect(run.stdout).toContain("state: hibernated");
    expect(run.stdout).toMatch(/^after waking: pid (\d+), count \d+ \(continued from \d+, no gaps\)$/m);
    const before = /^counter running: pid (\d+)/m.exec(run.stdout)?.[1];
    const after = /^after waking: pid (\d+)/m.exec(run.stdout)?.[1];
    expect(after).toBe(before);
  });

  it("every example deleted its sandbox", async () => {
    const res = await server.request("GET", "/v1/sandboxes");
    const { sandboxes } = (await res.json()) as { sandboxes: unknown[] };
    expect(sandboxes).toEqual([]);
  });
});
