import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InvalidArgumentError, NotFoundError, Sandbox, TimeoutError } from "@burrow/sdk";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliMain, runNode, startTestServer, type TestServer } from "./harness.js";

const example = join(import.meta.dirname, "..", "..", "examples", "code-interpreter.mjs");

// Burrow's own clients (SDK, CLI, MCP) on the code-interpreter template, with real runsc.
describe.skipIf(process.env.BURROW_SKIP_CODE_INTERPRETER === "1")("code interpreter through Burrow's clients", () => {
  let server: TestServer;
  let sandbox: Sandbox;
  const conn = () => ({ apiUrl: server.url, apiKey: server.apiKey });

  beforeAll(async () => {
    server = await startTestServer(undefined, { env: { BURROW_WARM_POOL: "code-interpreter=1" } });
    sandbox = await Sandbox.create({ ...conn(), template: "code-interpreter", lifecycle: { standbyAfterMs: 0 } });
  }, 180_000);

  afterAll(async () => {
    await server?.dispose();
  });

  it("runs Python with state, callbacks and rich results through the SDK", async () => {
    const out: string[] = [];
    await sandbox.runCode("import pandas as pd\ndf = pd.DataFrame({'n': [1, 2, 3]})\nprint('loaded')", {
      onStdout: (t) => void out.push(t),
    });
    expect(out).toEqual(["loaded\n"]);
    const results: string[] = [];
    const execution = await sandbox.runCode("df.n.sum() * 7", { onResult: (r) => void results.push(r.text ?? "") });
    expect(execution.text).toBe("42");
    expect(results).toEqual(["42"]);
    const table = await sandbox.runCode("df");
    expect(table.results[0]?.html).toContain("<table");
    const js = await sandbox.runCode("[1, 2, 3].map((x) => x * 2)", { language: "js" });
    expect(js.text).toBe("[ 2, 4, 6 ]");
  });

  it("interrupts on abort and on timeout; the variables stay", async () => {
    await sandbox.runCode("kept = 'yes'");
    const controller = new AbortController();
    const running = sandbox.runCode("import time\nwhile True:\n    time.sleep(0.01)", { signal: controller.signal });
    setTimeout(() => controller.abort(new Error("stop")), 1_000);
    await expect(running).rejects.toThrow("stop");
    await expect(sandbox.runCode("while True: pass", { timeoutMs: 1_500 })).rejects.toBeInstanceOf(TimeoutError);
    const after = await sandbox.runCode("kept", { timeoutMs: 20_000 });
    expect(after.text).toBe("'yes'");
  });

  it("refuses bad input: context with language, an unknown context; a JS context with its own cwd", async () => {
    await expect(sandbox.runCode("1", { context: "abc", language: "python" })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(sandbox.runCode("1", { context: "no-such-context" })).rejects.toBeInstanceOf(NotFoundError);
    const ctx = await sandbox.createCodeContext({ language: "js", cwd: "/tmp" });
    expect(ctx).toMatchObject({ language: "js", cwd: "/tmp" });
    expect((await sandbox.runCode("process.cwd()", { context: ctx })).text).toBe("'/tmp'");
    await sandbox.removeCodeContext(ctx);
  });

  it("keeps the kernel's memory across standby, hibernation and a server restart", async () => {
    await sandbox.runCode("import numpy as np\nbig = np.arange(5_000_000)\nmarker = int(big.sum())");
    const expected = String((5_000_000 * 4_999_999) / 2);
    await sandbox.pause();
    expect((await sandbox.runCode("marker")).text).toBe(expected);
    await sandbox.hibernate();
    expect((await sandbox.getInfo()).state).toBe("hibernated");
    expect((await sandbox.runCode("marker")).text).toBe(expected);
    await server.stop();
    server = await server.restart();
    const again = await Sandbox.connect(sandbox.sandboxId, conn());
    expect((await again.runCode("marker")).text).toBe(expected);
    sandbox = again;
  }, 180_000);

  it("restores a full checkpoint's variables; a fork gets them when forks carry memory", async () => {
    await sandbox.runCode("phase = 'checkpointed'");
    const checkpoint = await sandbox.checkpoints.create({ mode: "full" });
    await sandbox.runCode("phase = 'changed later'");
    const fork = await sandbox.checkpoints.fork(checkpoint.id);
    const forked = await Sandbox.connect(fork.sandboxIds[0] ?? "", conn());
    try {
      const seen = await forked.runCode("phase");
      // The server says what a fork is: fresh processes (the start command starts a new kernel)
      // or the checkpoint's memory (the same variables).
      if (String(fork.processes) === "fresh") expect(seen.error?.name).toBe("NameError");
      else expect(seen.text).toBe("'checkpointed'");
      expect((await sandbox.runCode("phase")).text).toBe("'changed later'");
    } finally {
      await forked.kill();
    }
    await sandbox.checkpoints.restore(checkpoint.id);
    expect((await sandbox.runCode("phase")).text).toBe("'checkpointed'");
  }, 240_000);

  it("burrow run-code prints text, saves charts to files and exits 1 on an exception", async () => {
    const outDir = mkdtempSync(join(tmpdir(), "bt-code-"));
    try {
      const chart = await runNode(
        [cliMain, "run-code", sandbox.sandboxId, "-o", outDir, "-"],
        server.clientEnv,
        "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()\nprint('drawn')\n6 * 7\n",
      );
      expect(chart.code, chart.stderr).toBe(0);
      expect(chart.stdout).toBe("drawn\n42\n");
      const files = readdirSync(outDir);
      expect(files).toEqual(["result-1.png"]);
      expect(readFileSync(join(outDir, "result-1.png")).subarray(1, 4).toString()).toBe("PNG");
      expect(chart.stderr).toContain("png saved to");
      const js = await runNode([cliMain, "run-code", sandbox.sandboxId, "-l", "js"], server.clientEnv, "'a' + 'b'");
      expect(js.stdout).toBe("'ab'\n");
      const failed = await runNode(
        [cliMain, "run-code", sandbox.sandboxId],
        server.clientEnv,
        "raise ValueError('no')",
      );
      expect(failed.code).toBe(1);
      expect(failed.stderr).toContain("ValueError");
    } finally {
      rmSync(outDir, { recursive: true, force: true });
    }
  }, 120_000);

  it("MCP run_code returns charts as image content and tables as text", async () => {
    const client = new Client({ name: "e2e-code", version: "1.0.0" });
    await client.connect(
      new StdioClientTransport({ command: process.execPath, args: [cliMain, "mcp"], env: server.clientEnv }),
    );
    try {
      const result = await client.callTool({
        name: "run_code",
        arguments: {
          sandboxId: sandbox.sandboxId,
          code: "import matplotlib.pyplot as plt\nplt.plot([2, 1])\nplt.show()\nimport pandas as pd\npd.DataFrame({'col': [5]})",
        },
      });
      const content = result.content as Array<{ type: string; text?: string; data?: string; mimeType?: string }>;
      expect(result.isError).not.toBe(true);
      const image = content.find((c) => c.type === "image");
      expect(image?.mimeType).toBe("image/png");
      expect(
        Buffer.from(image?.data ?? "", "base64")
          .subarray(1, 4)
          .toString(),
      ).toBe("PNG");
      const text = content.find((c) => c.type === "text")?.text ?? "";
      expect(text).toContain("--- result ---");
      expect(text).toMatch(/col\n0\s+5/);
      const failed = await client.callTool({
        name: "run_code",
        arguments: { sandboxId: sandbox.sandboxId, code: "1/0" },
      });
      expect(failed.isError).not.toBe(true);
      expect((failed.content as Array<{ text?: string }>)[0]?.text).toContain("ZeroDivisionError");
    } finally {
      await client.close();
    }
  }, 120_000);

  it("a warm-pool sandbox answers its first runCode with the kernel already up", async () => {
    const health = (await (await server.request("GET", "/v1/health")).json()) as {
      warmPool?: Record<string, { ready: number }>;
    };
    expect(health.warmPool?.["code-interpreter"]).toBeDefined();
    const warm = await Sandbox.create({ ...conn(), template: "code-interpreter" });
    try {
      expect((await warm.runCode("21 * 2", { timeoutMs: 20_000 })).text).toBe("42");
    } finally {
      await warm.kill();
    }
  });

  it("examples/code-interpreter.mjs runs", async () => {
    const run = await runNode([example], server.clientEnv);
    expect(run.code, `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`).toBe(0);
    expect(run.stdout).toMatch(/^total units: \d+$/m);
    expect(run.stdout).toContain("error: AttributeError");
    expect(run.stdout).toContain("state: hibernated");
    expect(run.stdout).toContain("code-interpreter ok");
  }, 240_000);
});
