import { type ChildProcess, spawn } from "node:child_process";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callTool } from "../../packages/mcp/test/helpers.js";
import { cliMain, startTestServer, type TestServer } from "./harness.js";

// End to end: `burrow mcp` (the built CLI) over stdio and over Streamable HTTP, driven by the
// official MCP client, against the real server with runsc sandboxes.
describe("burrow mcp against a real server", () => {
  let server: TestServer;
  let stdio: Client;
  let httpChild: ChildProcess;
  let httpUrl: string;
  let sandboxId: string;

  async function startHttp(): Promise<{ child: ChildProcess; url: string }> {
    const child = spawn(process.execPath, [cliMain, "mcp", "--http", "0"], {
      env: { ...process.env, ...server.clientEnv },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stderr?.on("data", (c: Buffer) => {
      out += c.toString();
    });
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`burrow mcp --http did not start:\n${out}`)), 15_000);
      child.stdout?.on("data", (c: Buffer) => {
        out += c.toString();
        const m = /Burrow MCP server listening on (http:\/\/\S+)/.exec(out);
        if (m?.[1]) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`burrow mcp --http exited with ${code}:\n${out}`));
      });
    });
    return { child, url };
  }

  async function httpClient(apiKey: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
    const transport = new StreamableHTTPClientTransport(new URL(httpUrl), {
      requestInit: { headers: { Authorization: `Bearer ${apiKey}` } },
    });
    const client = new Client({ name: "e2e-http", version: "1.0.0" });
    await client.connect(transport);
    return { client, transport };
  }

  beforeAll(async () => {
    server = await startTestServer();
    stdio = new Client({ name: "e2e-stdio", version: "1.0.0" });
    await stdio.connect(
      new StdioClientTransport({ command: process.execPath, args: [cliMain, "mcp"], env: server.clientEnv }),
    );
    ({ child: httpChild, url: httpUrl } = await startHttp());
  });

  afterAll(async () => {
    await stdio?.close();
    if (httpChild !== undefined && httpChild.exitCode === null) {
      const exited = new Promise((resolve) => httpChild.once("exit", resolve));
      httpChild.kill("SIGTERM");
      await exited;
    }
    await server?.dispose();
  });

  it("creates a sandbox", async () => {
    const created = await callTool(stdio, "sandbox_create", {
      metadata: { suite: "mcp-e2e" },
      env: { GREETING: "hi" },
    });
    expect(created.isError, created.text).toBe(false);
    expect(created.structured).toMatchObject({ state: "running", template: "base", metadata: { suite: "mcp-e2e" } });
    sandboxId = created.structured?.sandboxId as string;
    expect(sandboxId).toMatch(/^sb_[a-z2-7]{20}$/);
    const info = await callTool(stdio, "sandbox_info", { sandboxId });
    expect(info.structured).toMatchObject({ sandboxId, state: "running" });
    const listed = await callTool(stdio, "sandbox_list", { metadata: { suite: "mcp-e2e" } });
    expect(listed.structured?.sandboxes).toEqual([expect.objectContaining({ sandboxId })]);
  });

  it("writes a file, runs a command reading it, edits it and lists it", async () => {
    const wrote = await callTool(stdio, "write_file", {
      sandboxId,
      path: "proj/app.py",
      content: "print('hello')\nprint('bye')\n",
    });
    expect(wrote.structured).toEqual({ path: "/home/user/proj/app.py", bytes: 28 });

    const ran = await callTool(stdio, "run_command", { sandboxId, cmd: "python3 app.py; echo $GREETING", cwd: "proj" });
    expect(ran.structured).toEqual({ exitCode: 0, stdout: "hello\nbye\nhi\n", stderr: "" });

    const edited = await callTool(stdio, "edit_file", {
      sandboxId,
      path: "proj/app.py",
      oldText: "print('hello')",
      newText: "print(6 * 7)",
    });
    expect(edited.structured).toEqual({ path: "/home/user/proj/app.py", replacements: 1 });
    const again = await callTool(stdio, "run_command", { sandboxId, cmd: "python3 /home/user/proj/app.py" });
    expect(again.structured?.stdout).toBe("42\nbye\n");
    expect((await callTool(stdio, "read_file", { sandboxId, path: "proj/app.py" })).text).toBe(
      "print(6 * 7)\nprint('bye')\n",
    );

    const listed = await callTool(stdio, "list_files", { sandboxId, path: "proj" });
    expect(listed.structured?.entries).toEqual([{ path: "/home/user/proj/app.py", type: "file", size: 26 }]);
    expect(listed.text).toContain("/home/user/proj/app.py  (26 bytes)");
  });

  it("checkpoints, changes, diffs, restores and forks", async () => {
    const ck = await callTool(stdio, "checkpoint_create", { sandboxId, name: "before" });
    expect(ck.isError, ck.text).toBe(false);
    const checkpointId = ck.structured?.id as string;
    expect(checkpointId).toMatch(/^ck_/);
    await callTool(stdio, "write_file", { sandboxId, path: "proj/app.py", content: "print('changed')\n" });
    const diff = await callTool(stdio, "checkpoint_diff", {
      sandboxId,
      from: checkpointId,
      path: "/home/user/proj/app.py",
    });
    expect(diff.structured?.entries).toEqual([
      expect.objectContaining({ path: "/home/user/proj/app.py", change: "modified" }),
    ]);
    expect(diff.structured?.unified as string).toContain("+print('changed')");
    const restored = await callTool(stdio, "checkpoint_restore", { sandboxId, checkpointId });
    expect(restored.isError, restored.text).toBe(false);
    expect((await callTool(stdio, "read_file", { sandboxId, path: "proj/app.py" })).text).toBe(
      "print(6 * 7)\nprint('bye')\n",
    );
    const listed = await callTool(stdio, "checkpoint_list", { sandboxId });
    expect(listed.structured?.headId).toBe(checkpointId);
    const fork = await callTool(stdio, "sandbox_fork", { sandboxId, checkpointId, count: 1 });
    const [forkId] = (fork.structured?.sandboxIds ?? []) as string[];
    const inFork = await callTool(stdio, "read_file", { sandboxId: forkId, path: "proj/app.py" });
    expect(inFork.text).toBe("print(6 * 7)\nprint('bye')\n");
    expect((await callTool(stdio, "sandbox_delete", { sandboxId: forkId })).isError).toBe(false);
    const unknown = await callTool(stdio, "checkpoint_restore", { sandboxId, checkpointId: "ck_aaaaaaaaaaaaaaaaaaaa" });
    expect(unknown.isError).toBe(true);
    expect(unknown.text).toContain("checkpoint_not_found");
  });

  it("returns exit codes, env, users and truncated output as normal results", async () => {
    const failing = await callTool(stdio, "run_command", { sandboxId, cmd: "echo oops >&2; exit 7", env: { A: "1" } });
    expect(failing.isError).toBe(false);
    expect(failing.structured).toMatchObject({ exitCode: 7, stderr: "oops\n" });
    expect(failing.text).toContain("exit code: 7");

    const root = await callTool(stdio, "run_command", { sandboxId, cmd: "whoami", user: "root" });
    expect(root.structured?.stdout).toBe("root\n");

    const big = await callTool(stdio, "run_command", {
      sandboxId,
      cmd: "python3 -c \"print('H' + 'x' * 300000 + 'T')\"",
    });
    const stdout = big.structured?.stdout as string;
    expect(stdout.startsWith("Hxxx")).toBe(true);
    expect(stdout.endsWith("xT\n")).toBe(true);
    expect(stdout).toMatch(/\[\.\.\. 200003 characters truncated \.\.\.\]/);
    expect(stdout.length).toBeLessThan(100_100);

    const slow = await callTool(stdio, "run_command", { sandboxId, cmd: "echo started; sleep 30", timeoutMs: 1000 });
    expect(slow.isError).toBe(true);
    expect(slow.text).toContain("(timeout)");
    expect(slow.text).toContain("started");
  });

  it("follows a background command without repeating output, then stops another", async () => {
    const started = await callTool(stdio, "start_background_command", {
      sandboxId,
      cmd: "for i in 1 2 3 4 5 6; do echo tick$i; sleep 0.3; done; echo done >&2",
    });
    expect(started.isError, started.text).toBe(false);
    const pid = started.structured?.pid as number;
    let stdout = "";
    let stderr = "";
    let reads = 0;
    for (let state = "running"; state === "running"; reads++) {
      const read = await callTool(stdio, "read_command_output", { sandboxId, pid, waitMs: 2000 });
      expect(read.isError, read.text).toBe(false);
      stdout += read.structured?.stdout as string;
      stderr += read.structured?.stderr as string;
      state = read.structured?.state as string;
      if (state === "exited") expect(read.structured?.exitCode).toBe(0);
    }
    expect(reads).toBeGreaterThan(1);
    expect(stdout).toBe("tick1\ntick2\ntick3\ntick4\ntick5\ntick6\n");
    expect(stderr).toBe("done\n");
    const after = await callTool(stdio, "read_command_output", { sandboxId, pid, waitMs: 0 });
    expect(after.structured).toMatchObject({ state: "exited", stdout: "", stderr: "" });

    const sleeper = await callTool(stdio, "start_background_command", { sandboxId, cmd: "echo up; sleep 600" });
    const sleepPid = sleeper.structured?.pid as number;
    expect((await callTool(stdio, "read_command_output", { sandboxId, pid: sleepPid })).structured).toMatchObject({
      state: "running",
      stdout: "up\n",
    });
    const stopped = await callTool(stdio, "stop_command", { sandboxId, pid: sleepPid });
    expect(stopped.structured).toMatchObject({ stopped: true });
    const ended = await callTool(stdio, "read_command_output", { sandboxId, pid: sleepPid, waitMs: 5000 });
    expect(ended.structured).toMatchObject({ state: "exited", stdout: "" });
    expect((await callTool(stdio, "stop_command", { sandboxId, pid: sleepPid })).structured).toMatchObject({
      stopped: false,
    });
  });

  it("reads sandbox files as resources", async () => {
    const text = await stdio.readResource({ uri: `burrow://${sandboxId}/home/user/proj/app.py` });
    expect(text.contents[0]).toMatchObject({ mimeType: "text/plain", text: "print(6 * 7)\nprint('bye')\n" });
    await callTool(stdio, "write_file", { sandboxId, path: "bin.dat", content: "AP8A/w==", encoding: "base64" });
    const blob = await stdio.readResource({ uri: `burrow://${sandboxId}/home/user/bin.dat` });
    expect(blob.contents[0]).toMatchObject({ mimeType: "application/octet-stream", blob: "AP8A/w==" });
    const dir = await stdio.readResource({ uri: `burrow://${sandboxId}/home/user/proj` });
    expect(dir.contents[0]).toMatchObject({ text: "app.py" });
    const { resources } = await stdio.listResources();
    expect(resources.map((r) => r.uri)).toContain(`burrow://${sandboxId}/home/user`);
  });

  it("lists stored secrets by name and creates a sandbox that holds only their placeholders", async () => {
    const stored = await server.request("POST", "/v1/secrets", { name: "MCP_TOKEN", value: "mcp-secret-value-9f2" });
    expect(stored.status).toBe(201);
    const listed = await callTool(stdio, "secret_list", {});
    expect(listed.structured).toEqual({ secrets: [{ name: "MCP_TOKEN", updatedAt: expect.any(String) }] });
    expect(listed.text).not.toContain("mcp-secret-value-9f2");
    const created = await callTool(stdio, "sandbox_create", {
      secrets: [{ name: "MCP_TOKEN", hosts: ["api.example.test"] }],
    });
    expect(created.isError, created.text).toBe(false);
    const box = created.structured?.sandboxId as string;
    const ran = await callTool(stdio, "run_command", { sandboxId: box, cmd: 'printf %s "$MCP_TOKEN"' });
    expect(ran.structured).toMatchObject({ exitCode: 0, stdout: "{{secret:MCP_TOKEN}}" });
    const unknown = await callTool(stdio, "sandbox_create", { secrets: [{ name: "NOPE", hosts: ["a.test"] }] });
    expect(unknown.isError).toBe(true);
    expect(unknown.text).toContain("(unknown_secret)");
    expect((await callTool(stdio, "sandbox_delete", { sandboxId: box })).isError).toBe(false);
  });

  it("answers bad arguments with tool errors and keeps serving", async () => {
    const expectError = async (name: string, args: Record<string, unknown>, text: string) => {
      const result = await callTool(stdio, name, args);
      expect(result.isError, `${name}: ${result.text}`).toBe(true);
      expect(result.text).toContain(text);
    };
    await expectError("run_command", { sandboxId }, "cmd");
    await expectError("write_file", { path: "x" }, "sandboxId");
    await expectError("sandbox_info", { sandboxId: "sb_aaaaaaaaaaaaaaaaaaaa" }, "(sandbox_not_found)");
    await expectError("run_command", { sandboxId: "sb_aaaaaaaaaaaaaaaaaaaa", cmd: "true" }, "Hint: check the id");
    await expectError(
      "edit_file",
      { sandboxId, path: "proj/app.py", oldText: "absent", newText: "x" },
      "oldText was not found in /home/user/proj/app.py (bad_request)",
    );
    await expectError(
      "edit_file",
      { sandboxId, path: "proj/app.py", oldText: "print", newText: "echo" },
      "oldText occurs 2 times",
    );
    await expectError("read_file", { sandboxId, path: "../../etc/passwd" }, "leads outside /home/user");
    await expectError("read_file", { sandboxId, path: "/home/user/missing.txt" }, "(not_found)");
    await expectError("read_file", { sandboxId, path: "proj" }, "is a directory");
    await expectError("write_file", { sandboxId, path: "proj/app.py/inside.txt", content: "x" }, "Hint:");
    await expectError("sandbox_create", { template: "pyhton" }, "(template_not_found)");
    const good = await callTool(stdio, "run_command", { sandboxId, cmd: "cat /etc/hostname >/dev/null && echo ok" });
    expect(good.structured?.stdout).toBe("ok\n");
  });

  it("serves Streamable HTTP only to clients with a valid Burrow key", async () => {
    expect(httpUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    const initialize = {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
    };
    const post = (headers: Record<string, string>) =>
      fetch(httpUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream", ...headers },
        body: JSON.stringify(initialize),
      });
    expect((await post({})).status).toBe(401);
    expect((await post({ Authorization: "Bearer bk_wrong" })).status).toBe(401);
    const badClient = new Client({ name: "bad", version: "1" });
    await expect(
      badClient.connect(
        new StreamableHTTPClientTransport(new URL(httpUrl), {
          requestInit: { headers: { Authorization: "Bearer no" } },
        }),
      ),
    ).rejects.toThrow();
  });

  it("drives the same sandbox over HTTP, replaying another session's process output once", async () => {
    const { client, transport } = await httpClient(server.apiKey);
    try {
      const started = await callTool(stdio, "start_background_command", { sandboxId, cmd: "echo from-stdio; sleep 1" });
      const pid = started.structured?.pid as number;
      const first = await callTool(client, "read_command_output", { sandboxId, pid, waitMs: 5000 });
      expect(first.structured?.stdout).toBe("from-stdio\n");
      const rest = await callTool(client, "read_command_output", { sandboxId, pid, waitMs: 5000 });
      expect(rest.structured).toMatchObject({ stdout: "", state: "exited", exitCode: 0 });

      const ran = await callTool(client, "run_command", { sandboxId, cmd: "python3 proj/app.py" });
      expect(ran.structured).toMatchObject({ exitCode: 0, stdout: "42\nbye\n" });
      const bad = await callTool(client, "read_file", { sandboxId: "sb_x", path: "a" });
      expect(bad.isError).toBe(true);
      const deleted = await callTool(client, "sandbox_delete", { sandboxId });
      expect(deleted.structured).toEqual({ sandboxId, deleted: true });
      expect((await callTool(client, "sandbox_list", {})).structured?.sandboxes).toEqual([]);
    } finally {
      await transport.terminateSession().catch(() => undefined);
      await client.close();
    }
  });
});
