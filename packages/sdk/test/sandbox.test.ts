import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestBurrow } from "../../../tests/helpers/burrow.js";
import {
  AuthenticationError,
  CommandExitError,
  type CommandHandle,
  FileNotFoundError,
  Sandbox,
  SandboxNotFoundError,
  TemplateNotFoundError,
  TimeoutError,
} from "../src/index.js";

const fake = new TestBurrow();
let opts: { apiUrl: string; apiKey: string };

beforeAll(async () => {
  opts = { apiUrl: await fake.start(), apiKey: fake.apiKey };
});
afterAll(async () => {
  await fake.close();
});

describe("sandbox lifecycle", () => {
  it("creates, lists by metadata, gets, connects and kills", async () => {
    const sandbox = await Sandbox.create({ ...opts, metadata: { owner: "ci" } });
    await Sandbox.create({ ...opts, metadata: { owner: "someone-else" } });
    const listed = await Sandbox.list({ ...opts, metadata: { owner: "ci" } });
    expect(listed.map((s) => s.id)).toEqual([sandbox.sandboxId]);
    expect((await sandbox.getInfo()).state).toBe("running");
    const again = await Sandbox.connect(sandbox.sandboxId, opts);
    expect(again.sandboxId).toBe(sandbox.sandboxId);
    expect(await sandbox.kill()).toBe(true);
    expect(await sandbox.kill()).toBe(false);
    expect(await Sandbox.kill("sb_nope", opts)).toBe(false);
  });

  it("turns error replies into typed errors", async () => {
    await expect(Sandbox.connect("sb_nope", opts)).rejects.toBeInstanceOf(SandboxNotFoundError);
    await expect(Sandbox.create({ ...opts, template: "missing" })).rejects.toBeInstanceOf(TemplateNotFoundError);
    const err = await Sandbox.list({ apiUrl: opts.apiUrl, apiKey: "wrong" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect(err).toMatchObject({ code: "unauthorized" });
  });

  it("reports an unreachable server", async () => {
    await expect(Sandbox.list({ apiUrl: "http://127.0.0.1:1", apiKey: "k" })).rejects.toMatchObject({
      code: "service_unavailable",
      message: expect.stringContaining("cannot reach the Burrow server"),
    });
  });

  it("honours an already aborted signal", async () => {
    const reason = new Error("stop");
    await expect(Sandbox.list({ ...opts, signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });
});

describe("commands", () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await Sandbox.create(opts);
  });

  it("runs in the foreground, streaming output to callbacks", async () => {
    const seen: string[] = [];
    const result = await sandbox.commands.run("echo héllo", { user: "root", onStdout: (d) => void seen.push(d) });
    expect(result).toEqual({ stdout: "héllo\n", stderr: "", exitCode: 0 });
    expect(seen.join("")).toBe("héllo\n");
    // What reached the agent through the server's proxy: the SDK's X-Burrow-User became envd's
    // Basic user, and the API key stayed at the server.
    const start = fake.requests.findLast((r) => r.path === "/process.Process/Start");
    expect(start?.headers.authorization).toBe(`Basic ${Buffer.from("root:").toString("base64")}`);
    expect(start?.headers["content-type"]).toBe("application/connect+json");
    expect(start?.headers["connect-protocol-version"]).toBe("1");
    expect(JSON.stringify(start?.headers)).not.toContain(fake.apiKey);
  });

  it("throws CommandExitError carrying the result on a non-zero exit", async () => {
    const err = await sandbox.commands.run("fail").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandExitError);
    expect(err).toMatchObject({ exitCode: 3, stderr: "boom\n", code: "command_failed" });
  });

  it("returns a handle in the background that can be iterated", async () => {
    const handle = await sandbox.commands.run("chatty 3", { background: true });
    const chunks: string[] = [];
    for await (const chunk of handle) chunks.push(chunk.stdout ?? "");
    expect(chunks.join("")).toBe("line 0\nline 1\nline 2\n");
    await expect(handle.wait()).resolves.toMatchObject({ exitCode: 0 });
    expect(handle.stdout).toBe("line 0\nline 1\nline 2\n");
  });

  it("caps accumulated output and says so", async () => {
    const handle = await sandbox.commands.run("chatty 10", { background: true, maxOutputBytes: 20 });
    const result = await handle.wait();
    expect(result.stdout).toBe("line 0\nline 1\nline 2".slice(0, 20));
    expect(result.truncated).toEqual({ stdout: true, stderr: false });
  });

  it("kills the process when timeoutMs passes", async () => {
    const handle = await sandbox.commands.run("sleep", { background: true, timeoutMs: 100 });
    const err = await handle.wait().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(fake.processes.get(handle.pid)?.ended).toBe(true);
  });

  it("kills the process when the caller aborts a foreground run", async () => {
    const controller = new AbortController();
    const running = sandbox.commands.run("sleep", { signal: controller.signal });
    setTimeout(() => controller.abort(new Error("enough")), 50);
    await expect(running).rejects.toThrow("enough");
    const killed = fake.requests.filter((r) => r.path.endsWith("/SendSignal"));
    expect(killed.length).toBeGreaterThan(0);
  });

  it("sends stdin, lists, kills and reconnects by pid", async () => {
    const handle = await sandbox.commands.run("cat", { background: true, stdin: true });
    await handle.sendStdin("abc");
    expect((await sandbox.commands.list()).map((p) => p.pid)).toContain(handle.pid);
    const again: CommandHandle = await sandbox.commands.connect(handle.pid);
    await handle.closeStdin();
    await expect(again.wait()).resolves.toMatchObject({ stdout: "abc", exitCode: 0 });
    await expect(handle.wait()).resolves.toMatchObject({ stdout: "abc" });
    expect(await sandbox.commands.kill(handle.pid)).toBe(false);
    expect(await sandbox.commands.kill(99_999)).toBe(false);
  });

  it("disconnects without killing", async () => {
    const handle = await sandbox.commands.run("sleep", { background: true, timeoutMs: 0 });
    await handle.disconnect();
    await expect(handle.wait()).rejects.toThrow(/disconnect/);
    expect(fake.processes.get(handle.pid)?.ended).toBe(false);
    expect(await handle.kill()).toBe(true);
  });

  it("drives a pty", async () => {
    const data: Uint8Array[] = [];
    const term = await sandbox.pty.create({ cols: 80, rows: 24, onData: (d) => void data.push(d) });
    await sandbox.pty.sendInput(term.pid, "ls\r");
    await sandbox.pty.resize(term.pid, { cols: 100, rows: 30 });
    expect(await sandbox.pty.kill(term.pid)).toBe(true);
    await expect(term.wait()).rejects.toBeInstanceOf(CommandExitError);
    expect(Buffer.concat(data).toString()).toBe("ls\r");
  });
});

describe("files", () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await Sandbox.create(opts);
  });

  it("writes and reads in every format", async () => {
    const info = await sandbox.files.write("/tmp/a.txt", "hello", { user: "root" });
    expect(info).toEqual({ name: "a.txt", path: "/tmp/a.txt", type: "file" });
    const upload = fake.requests.findLast((r) => r.path.endsWith("/files"));
    expect(upload?.headers["content-type"]).toBe("application/octet-stream");
    expect(await sandbox.files.read("/tmp/a.txt")).toBe("hello");
    expect(await sandbox.files.read("/tmp/a.txt", { format: "bytes" })).toEqual(new TextEncoder().encode("hello"));
    expect(await (await sandbox.files.read("/tmp/a.txt", { format: "blob" })).text()).toBe("hello");
    const stream = await sandbox.files.read("/tmp/a.txt", { format: "stream" });
    expect(await new Response(stream).text()).toBe("hello");
  });

  it("writes streams, bytes and several files", async () => {
    const stream = new Blob(["streamed"]).stream();
    await sandbox.files.write("/tmp/s.txt", stream);
    expect(fake.files.get("/tmp/s.txt")?.toString()).toBe("streamed");
    const written = await sandbox.files.write([
      { path: "/tmp/d/1", data: new Uint8Array([1, 2]) },
      { path: "/tmp/d/2", data: new Uint8Array([3]).buffer },
    ]);
    expect(written.map((w) => w.path)).toEqual(["/tmp/d/1", "/tmp/d/2"]);
    const listed = await sandbox.files.list("/tmp/d");
    expect(listed.map((e) => [e.name, e.type, e.size])).toEqual([
      ["1", "file", 2],
      ["2", "file", 1],
    ]);
  });

  it("stats, renames, removes and makes directories", async () => {
    await sandbox.files.write("/tmp/x", "12345");
    const stat = await sandbox.files.getInfo("/tmp/x");
    expect(stat).toMatchObject({ name: "x", type: "file", size: 5 });
    expect(stat.modifiedTime?.toISOString()).toBe("2025-01-02T03:04:05.000Z");
    expect(await sandbox.files.exists("/tmp/x")).toBe(true);
    await sandbox.files.rename("/tmp/x", "/tmp/y");
    expect(await sandbox.files.exists("/tmp/x")).toBe(false);
    expect(await sandbox.files.remove("/tmp/y")).toBe(true);
    expect(await sandbox.files.remove("/tmp/y")).toBe(false);
    expect(await sandbox.files.makeDir("/tmp/new")).toBe(true);
    expect(await sandbox.files.makeDir("/tmp/new")).toBe(false);
  });

  it("raises FileNotFoundError for missing files", async () => {
    await expect(sandbox.files.read("/nope")).rejects.toBeInstanceOf(FileNotFoundError);
    await expect(sandbox.files.getInfo("/nope")).rejects.toBeInstanceOf(FileNotFoundError);
  });
});

describe("watchDir", () => {
  it("delivers events until stopped, then calls onExit without an error", async () => {
    const sandbox = await Sandbox.create(opts);
    const events: unknown[] = [];
    const exits: unknown[] = [];
    const handle = await sandbox.files.watchDir("/tmp", (e) => void events.push(e), {
      onExit: (err) => void exits.push(err),
    });
    await sandbox.files.write("/tmp/watched.txt", "x");
    await expect.poll(() => events.length).toBe(1);
    expect(events[0]).toEqual({ name: "watched.txt", type: "create" });
    await handle.stop();
    expect(exits).toEqual([undefined]);
  });
});
