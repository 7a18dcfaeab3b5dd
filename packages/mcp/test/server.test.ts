import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { TestBurrow } from "../../../tests/helpers/burrow.js";
import { createBurrowMcpServer, toolNames } from "../src/index.js";
import { callTool } from "./helpers.js";

// Component tests: the MCP server in memory against the SDK's fake Burrow server.
const fake = new TestBurrow();
const clients: Client[] = [];

async function connect(apiKey = fake.apiKey): Promise<Client> {
  const server = createBurrowMcpServer({ connection: { apiUrl: fake.url, apiKey } });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: "test", version: "1.0.0" });
  await client.connect(clientSide);
  clients.push(client);
  return client;
}

beforeAll(async () => {
  await fake.start();
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await fake.close();
});

describe("Burrow MCP server (fake Burrow)", () => {
  it("lists every tool with a description and an input schema", async () => {
    const client = await connect();
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(toolNames());
    expect(toolNames()).toEqual([
      "sandbox_create",
      "sandbox_list",
      "sandbox_info",
      "sandbox_delete",
      "run_command",
      "start_background_command",
      "read_command_output",
      "stop_command",
      "read_file",
      "write_file",
      "list_files",
      "edit_file",
      "checkpoint_create",
      "checkpoint_list",
      "checkpoint_restore",
      "checkpoint_diff",
      "sandbox_fork",
      "get_preview_url",
      "secret_list",
      "run_code",
    ]);
    for (const tool of tools) {
      expect(tool.description?.length, tool.name).toBeGreaterThan(40);
      expect(tool.inputSchema.type).toBe("object");
    }
    const run = tools.find((t) => t.name === "run_command");
    expect(run?.inputSchema.required).toEqual(["sandboxId", "cmd"]);
  });

  it("creates a sandbox, runs commands and reports non-zero exits as results", async () => {
    const client = await connect();
    const created = await callTool(client, "sandbox_create", { metadata: { suite: "mcp" } });
    expect(created.isError, created.text).toBe(false);
    const sandboxId = created.structured?.sandboxId as string;
    expect(sandboxId).toMatch(/^sb_/);

    const ok = await callTool(client, "run_command", { sandboxId, cmd: "echo hi€" });
    expect(ok.structured).toEqual({ exitCode: 0, stdout: "hi€\n", stderr: "" });
    expect(ok.text).toContain("exit code: 0");

    const failed = await callTool(client, "run_command", { sandboxId, cmd: "fail" });
    expect(failed.isError).toBe(false);
    expect(failed.structured).toMatchObject({ exitCode: 3, stderr: "boom\n" });

    const listed = await callTool(client, "sandbox_list", { metadata: { suite: "mcp" } });
    expect(listed.structured?.sandboxes).toHaveLength(1);
    expect((await callTool(client, "sandbox_delete", { sandboxId })).structured).toMatchObject({ deleted: true });
    expect((await callTool(client, "sandbox_delete", { sandboxId })).structured).toMatchObject({ deleted: false });
  });

  it("returns errors as isError results with code and hint, and keeps serving", async () => {
    const client = await connect();
    const missing = await callTool(client, "sandbox_info", { sandboxId: "sb_nope" });
    expect(missing.isError).toBe(true);
    expect(missing.text).toContain("(sandbox_not_found)");
    expect(missing.text).toContain("Hint: check the id with sandbox_list");

    const invalid = await callTool(client, "run_command", { sandboxId: "sb_x" });
    expect(invalid.isError).toBe(true);
    expect(invalid.text).toContain("cmd");

    const template = await callTool(client, "sandbox_create", { template: "missing" });
    expect(template.text).toContain("(template_not_found)");

    const badKey = await connect("wrong");
    const denied = await callTool(badKey, "sandbox_list", {});
    expect(denied.isError).toBe(true);
    expect(denied.text).toContain("(unauthorized)");

    expect((await callTool(client, "sandbox_list", {})).isError).toBe(false);
  });

  it("writes, edits, reads and lists files", async () => {
    const client = await connect();
    const sandboxId = (await callTool(client, "sandbox_create", {})).structured?.sandboxId as string;
    const wrote = await callTool(client, "write_file", { sandboxId, path: "notes/a.txt", content: "one\ntwo\ntwo\n" });
    expect(wrote.structured).toEqual({ path: "/home/user/notes/a.txt", bytes: 12 });
    expect(fake.files.get("/home/user/notes/a.txt")?.toString()).toBe("one\ntwo\ntwo\n");

    const ambiguous = await callTool(client, "edit_file", {
      sandboxId,
      path: "notes/a.txt",
      oldText: "two",
      newText: "2",
    });
    expect(ambiguous.isError).toBe(true);
    expect(ambiguous.text).toContain("occurs 2 times");
    const edited = await callTool(client, "edit_file", {
      sandboxId,
      path: "/home/user/notes/a.txt",
      oldText: "one\n",
      newText: "uno\n",
    });
    expect(edited.structured).toEqual({ path: "/home/user/notes/a.txt", replacements: 1 });

    expect((await callTool(client, "read_file", { sandboxId, path: "notes/a.txt" })).text).toBe("uno\ntwo\ntwo\n");
    const range = await callTool(client, "read_file", { sandboxId, path: "notes/a.txt", offset: 2, limit: 1 });
    expect(range.text).toBe("two\n\n[lines 2-2 of 3]");

    fake.files.set("/home/user/bin.dat", Buffer.from([0xff, 0x00, 0xfe]));
    const binary = await callTool(client, "read_file", { sandboxId, path: "bin.dat" });
    expect(binary.text).toContain("not UTF-8 text");
    const b64 = await callTool(client, "read_file", { sandboxId, path: "bin.dat", encoding: "base64" });
    expect(b64.text).toBe("/wD+");

    const listed = await callTool(client, "list_files", { sandboxId, path: "notes" });
    expect(listed.structured).toMatchObject({ path: "/home/user/notes", total: 1 });

    const outside = await callTool(client, "read_file", { sandboxId, path: "../../etc/passwd" });
    expect(outside.isError).toBe(true);
    expect(outside.text).toContain("leads outside /home/user (bad_request)");
  });

  it("follows background commands without repeating output, across sessions too", async () => {
    const client = await connect();
    const sandboxId = (await callTool(client, "sandbox_create", {})).structured?.sandboxId as string;
    const started = await callTool(client, "start_background_command", { sandboxId, cmd: "chatty 3" });
    const pid = started.structured?.pid as number;
    expect(pid).toBeGreaterThan(0);

    const first = await callTool(client, "read_command_output", { sandboxId, pid });
    expect(first.structured).toMatchObject({ state: "exited", exitCode: 0, stdout: "line 0\nline 1\nline 2\n" });
    const second = await callTool(client, "read_command_output", { sandboxId, pid, waitMs: 0 });
    expect(second.structured).toMatchObject({ state: "exited", stdout: "", stderr: "" });

    // Another session has read nothing yet: it gets the replayed output once.
    const other = await connect();
    const replay = await callTool(other, "read_command_output", { sandboxId, pid });
    expect(replay.structured).toMatchObject({ stdout: "line 0\nline 1\nline 2\n", exitCode: 0 });

    const sleeper = await callTool(client, "start_background_command", { sandboxId, cmd: "sleep" });
    const sleepPid = sleeper.structured?.pid as number;
    const running = await callTool(client, "read_command_output", { sandboxId, pid: sleepPid, waitMs: 10 });
    expect(running.structured).toMatchObject({ state: "running", running: true });
    expect((await callTool(client, "stop_command", { sandboxId, pid: sleepPid })).structured).toMatchObject({
      stopped: true,
    });
    const ended = await callTool(client, "read_command_output", { sandboxId, pid: sleepPid });
    expect(ended.structured).toMatchObject({ state: "exited", exitCode: -1 });
    expect((await callTool(client, "stop_command", { sandboxId, pid: sleepPid })).structured).toMatchObject({
      stopped: false,
    });
  });

  it("serves sandbox files as resources", async () => {
    const client = await connect();
    const sandboxId = (await callTool(client, "sandbox_create", {})).structured?.sandboxId as string;
    fake.files.set("/home/user/r.txt", Buffer.from("resource text"));
    const { resourceTemplates } = await client.listResourceTemplates();
    expect(resourceTemplates.map((t) => t.uriTemplate)).toEqual(["burrow://{sandboxId}/{+path}"]);
    const read = await client.readResource({ uri: `burrow://${sandboxId}/home/user/r.txt` });
    expect(read.contents[0]).toMatchObject({ text: "resource text", mimeType: "text/plain" });
    const dir = await client.readResource({ uri: `burrow://${sandboxId}/home/user` });
    expect(dir.contents[0]).toMatchObject({ text: expect.stringContaining("r.txt") });
    await expect(client.readResource({ uri: `burrow://${sandboxId}/home/user/none` })).rejects.toThrow("not_found");
    const { resources } = await client.listResources();
    expect(resources.map((r) => r.uri)).toContain(`burrow://${sandboxId}/home/user`);
  });
});
