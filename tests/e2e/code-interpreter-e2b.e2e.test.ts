import { readFileSync } from "node:fs";
import { join } from "node:path";
import { InvalidArgumentError, NotFoundError, Sandbox, TimeoutError } from "@e2b/code-interpreter";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";

// The official @e2b/code-interpreter SDK, unchanged, against a real Burrow server: its default
// template (code-interpreter-v1) is Burrow's code-interpreter template, built by the setup
// (skipped only where the setup was told to skip it).
describe.skipIf(process.env.BURROW_SKIP_CODE_INTERPRETER === "1")("@e2b/code-interpreter against Burrow", () => {
  let server: TestServer;
  let key: string;
  let sandbox: Sandbox;
  const opts = () => ({ apiKey: key, apiUrl: server.url, sandboxUrl: server.url });

  beforeAll(async () => {
    server = await startTestServer(undefined, { env: { BURROW_WARM_POOL: "" } });
    key = readFileSync(join(server.dataDir, "e2b-api-key"), "utf8").trim();
    sandbox = await Sandbox.create({ ...opts(), timeoutMs: 600_000 });
  }, 180_000);

  afterAll(async () => {
    await server?.dispose();
  });

  it("keeps variables between calls and reports stdout and the execution count", async () => {
    const lines: string[] = [];
    await sandbox.runCode("x = 41\nprint('set x')", { onStdout: (m) => void lines.push(m.line) });
    const execution = await sandbox.runCode("x + 1");
    expect(lines).toEqual(["set x\n"]);
    expect(execution.text).toBe("42");
    expect(execution.results[0]?.isMainResult).toBe(true);
    expect(execution.executionCount).toBeGreaterThanOrEqual(2);
    expect(execution.error).toBeUndefined();
  });

  it("returns a matplotlib chart as a PNG", async () => {
    const results: string[] = [];
    const execution = await sandbox.runCode(
      "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [4, 1, 9])\nplt.title('e2e')\nplt.show()",
      { onResult: (r) => void results.push(...r.formats()) },
    );
    expect(execution.error).toBeUndefined();
    const chart = execution.results.find((r) => r.png !== undefined);
    expect(chart).toBeDefined();
    const png = Buffer.from(chart?.png ?? "", "base64");
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(png.length).toBeGreaterThan(1000);
    expect(results).toContain("png");
  });

  it("returns a pandas DataFrame as HTML", async () => {
    const execution = await sandbox.runCode("import pandas as pd\npd.DataFrame({'a': [1, 2], 'b': ['x', 'y']})");
    expect(execution.error).toBeUndefined();
    const main = execution.results.find((r) => r.isMainResult);
    expect(main?.html).toContain("<table");
    expect(main?.html).toContain("<td>x</td>");
    expect(main?.text).toContain("a  b");
  });

  it("gives an exception as an error with its traceback, not a transport error", async () => {
    const errors: string[] = [];
    const execution = await sandbox.runCode("def f():\n    return 1 / 0\nf()", {
      onError: (e) => void errors.push(e.name),
    });
    expect(execution.error?.name).toBe("ZeroDivisionError");
    expect(execution.error?.value).toBe("division by zero");
    // IPython's traceback, terminal colours included (as E2B sends it).
    // biome-ignore lint/suspicious/noControlCharactersInRegex: removing the ESC of ANSI colours
    const traceback = (execution.error?.traceback ?? "").replace(/\u001b\[[0-9;]*m/g, "");
    expect(traceback).toContain("return 1 / 0");
    expect(errors).toEqual(["ZeroDivisionError"]);
    const syntax = await sandbox.runCode("def (:");
    expect(syntax.error?.name).toBe("SyntaxError");
  });

  it("interrupts an endless loop at the caller's timeout; the context stays usable", async () => {
    await expect(sandbox.runCode("y = 7\nwhile True:\n    pass", { timeoutMs: 2_000 })).rejects.toBeInstanceOf(
      TimeoutError,
    );
    // Without the interrupt the kernel would still be looping and this would wait its timeout.
    const after = await sandbox.runCode("y * 6", { timeoutMs: 20_000 });
    expect(after.text).toBe("42");
  });

  it("keeps two contexts apart, each with its own cwd", async () => {
    const a = await sandbox.createCodeContext({ cwd: "/tmp" });
    const b = await sandbox.createCodeContext();
    expect(a.language).toBe("python");
    await sandbox.runCode("secret = 'a'", { context: a });
    const inB = await sandbox.runCode("'secret' in globals()", { context: b });
    expect(inB.text).toBe("False");
    const inA = await sandbox.runCode("import os\n(secret, os.getcwd())", { context: a });
    expect(inA.text).toBe("('a', '/tmp')");
    const ids = (await sandbox.listCodeContexts()).map((c) => c.id);
    expect(ids).toEqual(expect.arrayContaining([a.id, b.id]));
    await sandbox.restartCodeContext(a);
    const restarted = await sandbox.runCode("'secret' in globals()", { context: a });
    expect(restarted.text).toBe("False");
    await sandbox.removeCodeContext(b);
    await expect(sandbox.runCode("1", { context: b })).rejects.toBeInstanceOf(NotFoundError);
    // @ts-expect-error the SDK's types forbid both; its check at run time is what is tested
    await expect(sandbox.runCode("1", { context: a, language: "python" })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it("keeps state in a JavaScript context", async () => {
    await sandbox.runCode("let n = 40; const add = (a) => n + a;", { language: "js" });
    const logs: string[] = [];
    const execution = await sandbox.runCode("console.log('hi from node'); add(2)", {
      language: "js",
      onStdout: (m) => void logs.push(m.line),
    });
    expect(execution.text).toBe("42");
    expect(logs).toEqual(["hi from node\n"]);
    const ctx = await sandbox.createCodeContext({ language: "js" });
    const isolated = await sandbox.runCode("typeof n", { context: ctx });
    expect(isolated.text).toBe("'undefined'");
    const thrown = await sandbox.runCode("null.x", { language: "js" });
    expect(thrown.error?.name).toBe("TypeError");
  });

  it("passes per-execution env vars and truncates runaway output with a marker", async () => {
    const env = await sandbox.runCode("import os\nos.environ.get('ONLY_NOW')", { envs: { ONLY_NOW: "yes" } });
    expect(env.text).toBe("'yes'");
    const gone = await sandbox.runCode("os.environ.get('ONLY_NOW')");
    expect(gone.text).toBeUndefined();
    const big = await sandbox.runCode("for _ in range(40):\n    print('x' * 100_000)");
    const printed = big.logs.stdout.join("").length;
    expect(printed).toBeGreaterThan(500_000);
    expect(printed).toBeLessThanOrEqual(1024 * 1024);
    expect(big.logs.stderr.join("")).toContain("output truncated");
  });

  it("reports a kernel that died, and starts a fresh one", async () => {
    const died = await sandbox.runCode("import os\nos._exit(1)", { timeoutMs: 30_000 });
    expect(died.error?.name).toBe("UnexpectedEndOfExecution");
    const fresh = await sandbox.runCode("1 + 1");
    expect(fresh.text).toBe("2");
  }, 120_000);

  it("answers 400 for context and language together and for an unknown language", async () => {
    const headers = { "E2b-Sandbox-Id": sandbox.sandboxId, "E2b-Sandbox-Port": "49999" };
    const both = await fetch(`${server.url}/execute`, {
      method: "POST",
      headers,
      body: JSON.stringify({ code: "1", context_id: "x", language: "python" }),
    });
    expect(both.status).toBe(400);
    expect(((await both.json()) as { error: { code: string } }).error.code).toBe("validation_failed");
    const cobol = await fetch(`${server.url}/contexts`, {
      method: "POST",
      headers,
      body: JSON.stringify({ language: "cobol" }),
    });
    expect(cobol.status).toBe(400);
  });

  it("keeps the kernel's variables across pause and connect (hibernation)", async () => {
    await sandbox.runCode("import numpy as np\nkept = np.arange(1000).sum()");
    await sandbox.pause();
    const info = await server.request("GET", `/v1/sandboxes/${sandbox.sandboxId}`);
    expect(((await info.json()) as { state: string }).state).toBe("hibernated");
    const again = await Sandbox.connect(sandbox.sandboxId, opts());
    const execution = await again.runCode("int(kept)");
    expect(execution.text).toBe("499500");
  }, 180_000);
});
