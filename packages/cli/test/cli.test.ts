import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { TestBurrow } from "../../../tests/helpers/burrow.js";
import { runCli } from "../src/cli.js";
import type { CliInput, CliIo, CliOutput } from "../src/context.js";

class Capture implements CliOutput {
  private readonly chunks: string[] = [];
  write(chunk: string | Uint8Array): boolean {
    this.chunks.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString());
    return true;
  }
  get text(): string {
    return this.chunks.join("");
  }
}

function input(chunks: string[], isTTY = false): CliInput {
  return {
    isTTY,
    async *[Symbol.asyncIterator]() {
      yield* chunks;
    },
  };
}

async function cli(argv: string[], stdin: CliInput = input([])) {
  const stdout = new Capture();
  const stderr = new Capture();
  const io: CliIo = { stdout, stderr, stdin, onSignal: () => () => {} };
  const code = await runCli(argv, io, "9.9.9");
  return { code, stdout: stdout.text, stderr: stderr.text };
}

const fake = new TestBurrow();
let globals: string[];
let dir: string;

beforeAll(async () => {
  globals = ["--api-url", await fake.start(), "--api-key", fake.apiKey];
  dir = await mkdtemp(join(tmpdir(), "burrow-cli-"));
});
afterAll(async () => {
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

describe("burrow (no server needed)", () => {
  it("prints help and version", async () => {
    expect(await cli(["--version"])).toMatchObject({ code: 0, stdout: "9.9.9\n" });
    expect((await cli(["--help"])).stdout).toContain("Commands:");
    expect((await cli(["exec", "--help"])).stdout).toContain("Usage: burrow exec [options] <id> -- cmd...");
    expect((await cli(["help", "cp"])).stdout).toContain("Copy a file");
  });

  it("exits 2 on usage errors", async () => {
    expect(await cli([])).toMatchObject({ code: 2 });
    expect(await cli(["frobnicate"])).toMatchObject({ code: 2, stderr: expect.stringContaining("unknown command") });
    expect(await cli(["info"])).toMatchObject({ code: 2, stderr: expect.stringContaining("missing <id>") });
    expect(await cli(["cp", "a", "b"])).toMatchObject({ code: 2 });
  });
});

describe("burrow against a server", () => {
  it("creates, lists, shows and removes sandboxes", async () => {
    const created = await cli([...globals, "create", "--metadata", "team=x", "--env", "A=1"]);
    expect(created.code).toBe(0);
    const id = created.stdout.trim();
    expect(id).toMatch(/^sb_/);
    const ls = await cli(["ls", "--json", "--metadata", "team=x", ...globals]);
    expect(JSON.parse(ls.stdout).map((s: { id: string }) => s.id)).toEqual([id]);
    expect((await cli(["ls", ...globals])).stdout).toMatch(/^ID\s+TEMPLATE\s+STATE/);
    expect((await cli(["info", id, ...globals])).stdout).toContain("state:    running");
    expect(await cli(["rm", id, ...globals])).toMatchObject({ code: 0, stdout: `${id}\n` });
    expect(await cli(["rm", id, ...globals])).toMatchObject({
      code: 1,
      stderr: `error: sandbox '${id}' not found (sandbox_not_found)\n`,
    });
    expect(await cli(["rm", "-f", id, ...globals])).toMatchObject({ code: 0 });
  });

  it("formats server errors", async () => {
    // The example of docs/cli.md, word for word.
    expect(await cli(["info", "sb_aaaaaaaaaaaaaaaaaaaa", ...globals])).toMatchObject({
      code: 1,
      stderr: "error: sandbox sb_aaaaaaaaaaaaaaaaaaaa not found (sandbox_not_found)\n",
    });
    expect(await cli(["ls", "--api-url", globals[1] as string, "--api-key", "bad"])).toMatchObject({
      code: 1,
      stderr: "error: invalid API key (unauthorized)\n",
    });
  });

  it("execs with live output and the command's exit code", async () => {
    const id = (await cli(["create", ...globals])).stdout.trim();
    expect(await cli(["exec", id, ...globals, "--", "echo", "hi there"])).toMatchObject({
      code: 0,
      stdout: "hi there\n",
    });
    const start = fake.requests.findLast((r) => r.path.endsWith("/Start"));
    expect(start).toBeDefined();
    expect(await cli(["exec", id, ...globals, "--", "fail"])).toMatchObject({ code: 3, stderr: "boom\n" });
    expect(await cli(["exec", id, ...globals, "--", "cat"], input(["piped ", "input"]))).toMatchObject({
      code: 0,
      stdout: "piped input",
    });
  });

  it("copies files both ways", async () => {
    const id = (await cli(["create", ...globals])).stdout.trim();
    const local = join(dir, "up.txt");
    await writeFile(local, "payload");
    expect(await cli(["cp", local, `${id}:/tmp/up.txt`, ...globals])).toMatchObject({ code: 0 });
    expect(fake.files.get("/tmp/up.txt")?.toString()).toBe("payload");
    expect(await cli(["cp", `${id}:/tmp/up.txt`, dir, ...globals])).toMatchObject({ code: 0 });
    expect(await readFile(join(dir, "up.txt"), "utf8")).toBe("payload");
    expect(await cli(["cp", `${id}:/tmp/up.txt`, "-", ...globals])).toMatchObject({ stdout: "payload" });
    expect(await cli(["cp", `${id}:/nope`, dir, ...globals])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining("(not_found)"),
    });
  });

  it("runs a shell over a pipe", async () => {
    const id = (await cli(["create", ...globals])).stdout.trim();
    const result = await cli(["shell", id, ...globals], input(["echo hi\n"]));
    // The fake terminal echoes input and ends when it receives Ctrl-D.
    expect(result.stdout).toBe("echo hi\n\u0004");
  });
});

describe("burrow mcp", () => {
  it("rejects options that do not fit together", async () => {
    expect(await cli(["mcp", "--host", "0.0.0.0"])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("--host needs --http"),
    });
    expect(await cli(["mcp", "--http", "0", ...globals])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("--api-key does not apply to --http"),
    });
    expect(await cli(["mcp", "--http", "70000"])).toMatchObject({ code: 2 });
  });

  it("serves Streamable HTTP with bearer auth until SIGTERM", async () => {
    const stdout = new Capture();
    const stderr = new Capture();
    const handlers = new Map<string, () => void>();
    const io: CliIo = {
      stdout,
      stderr,
      stdin: input([]),
      onSignal: (signal, handler) => {
        handlers.set(signal, handler);
        return () => handlers.delete(signal);
      },
    };
    const running = runCli(["mcp", "--http", "0", "--api-url", fake.url], io, "9.9.9");
    await vi.waitFor(() => expect(stdout.text).toContain("Burrow MCP server listening on http://127.0.0.1:"));
    const url = /listening on (\S+)/.exec(stdout.text)?.[1] as string;
    const res = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    expect(res.status).toBe(401);
    handlers.get("SIGTERM")?.();
    expect(await running).toBe(0);
  });
});
