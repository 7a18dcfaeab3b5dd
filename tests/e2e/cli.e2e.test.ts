import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliMain, type NodeRun, runNode, startTestServer, type TestServer } from "./harness.js";

// End to end: the built `burrow` CLI as a child process against a real server with runsc.
describe("burrow CLI against a real server", () => {
  let server: TestServer;
  let work: string;
  let id: string;

  const cli = (args: string[], input?: string): Promise<NodeRun> =>
    runNode([cliMain, ...args], server.clientEnv, input);

  beforeAll(async () => {
    server = await startTestServer();
    work = mkdtempSync(join(tmpdir(), "burrow-cli-"));
    const created = await cli(["create", "--metadata", "suite=cli"]);
    expect(created.code, created.stderr).toBe(0);
    id = created.stdout.trim();
  });

  afterAll(async () => {
    await server?.dispose();
    rmSync(work, { recursive: true, force: true });
  });

  it("creates a sandbox and prints its id", () => {
    expect(id).toMatch(/^sb_[a-z2-7]{20}$/);
  });

  it("exec prints output and exits with the command's code", async () => {
    const ok = await cli(["exec", id, "--", "python3", "-c", "print(6*7)"]);
    expect(ok).toMatchObject({ code: 0, stdout: "42\n" });
    const failing = await cli(["exec", id, "--", "sh", "-c", "echo oops >&2; exit 7"]);
    expect(failing.code).toBe(7);
    expect(failing.stderr).toContain("oops");
    const missing = await cli(["exec", id, "--", "no-such-binary"]);
    expect(missing.code).toBe(127);
  });

  it("copies files both ways, binary-safe", async () => {
    const data = randomBytes(2 * 1024 * 1024);
    writeFileSync(join(work, "in.bin"), data);
    expect((await cli(["cp", join(work, "in.bin"), `${id}:/home/user/in.bin`])).code).toBe(0);
    expect((await cli(["cp", `${id}:/home/user/in.bin`, join(work, "out.bin")])).code).toBe(0);
    expect(readFileSync(join(work, "out.bin")).equals(data)).toBe(true);
  });

  it("shell runs an interactive bash fed from stdin", async () => {
    const result = await cli(["shell", id], "echo $((6*7)); whoami\nexit\n");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("42");
    expect(result.stdout).toContain("user");
  });

  it("ls and info show the sandbox; --json is machine-readable", async () => {
    const ls = await cli(["ls", "--json"]);
    const listed = JSON.parse(ls.stdout) as Array<{ id: string; state: string }>;
    expect(listed.find((s) => s.id === id)?.state).toBe("running");
    const info = await cli(["info", id, "--json"]);
    expect(JSON.parse(info.stdout)).toMatchObject({ id, state: "running", metadata: { suite: "cli" } });
  });

  it("prints clear errors with codes for unknown sandboxes and bad usage", async () => {
    const unknown = await cli(["info", "sb_aaaaaaaaaaaaaaaaaaaa"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/not found \(sandbox_not_found\)/);
    const usage = await cli(["exec", id]);
    expect(usage.code).toBe(2);
    const help = await cli(["exec", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("exec");
  });

  it("rm deletes the sandbox", async () => {
    const extra = (await cli(["create"])).stdout.trim();
    expect((await cli(["rm", extra])).code).toBe(0);
    expect((await cli(["info", extra])).code).toBe(1);
  });
});
