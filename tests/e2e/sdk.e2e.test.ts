import { createHash, randomBytes } from "node:crypto";
import {
  CommandExitError,
  InvalidArgumentError,
  NotFoundError,
  Sandbox,
  SandboxNotFoundError,
  TemplateNotFoundError,
} from "@burrow/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";

// End to end: the real server (dist) with real runsc sandboxes, driven through the SDK.
describe("SDK against a real Burrow server", () => {
  let server: TestServer;
  let sandbox: Sandbox;
  const opts = () => ({ apiUrl: server.url, apiKey: server.apiKey });

  beforeAll(async () => {
    server = await startTestServer();
    sandbox = await Sandbox.create({ ...opts(), metadata: { suite: "sdk-e2e" }, envs: { GREETING: "hello" } });
  });

  afterAll(async () => {
    await server?.dispose();
  });

  it("runs a command as `user` in /home/user with sandbox and per-command env", async () => {
    const result = await sandbox.commands.run("python3 -c 'print(6*7)'; whoami; pwd; echo $GREETING $EXTRA", {
      envs: { EXTRA: "world" },
    });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe("42\nuser\n/home/user\nhello world\n");
  });

  it("runs as root on request and in a chosen cwd", async () => {
    const result = await sandbox.commands.run("whoami; pwd", { user: "root", cwd: "/tmp" });
    expect(result.stdout).toBe("root\n/tmp\n");
  });

  it("reports a missing command as exit code 127, not an API error", async () => {
    const err = await sandbox.commands.run("definitely-not-a-command").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandExitError);
    expect((err as CommandExitError).exitCode).toBe(127);
    expect((err as CommandExitError).stderr).toContain("not found");
  });

  it("streams output live through onStdout/onStderr", async () => {
    const seen: string[] = [];
    const result = await sandbox.commands.run("for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.05; done", {
      onStdout: (d) => {
        seen.push(`o:${d}`);
      },
      onStderr: (d) => {
        seen.push(`e:${d}`);
      },
    });
    expect(result.stdout).toBe("out1\nout2\nout3\n");
    expect(result.stderr).toBe("err1\nerr2\nerr3\n");
    expect(seen.join("")).toContain("o:out1");
    expect(seen.length).toBeGreaterThanOrEqual(2);
  });

  it("round-trips a 10 MB binary file byte for byte", async () => {
    const data = randomBytes(10 * 1024 * 1024);
    await sandbox.files.write("/home/user/big.bin", data);
    const back = await sandbox.files.read("/home/user/big.bin", { format: "bytes" });
    expect(back.length).toBe(data.length);
    expect(createHash("sha256").update(back).digest("hex")).toBe(createHash("sha256").update(data).digest("hex"));
    const inside = await sandbox.commands.run("sha256sum /home/user/big.bin | cut -d' ' -f1");
    expect(inside.stdout.trim()).toBe(createHash("sha256").update(data).digest("hex"));
  });

  it("lists, stats, makes, renames and removes files, owned by the user", async () => {
    expect(await sandbox.files.makeDir("/home/user/proj/src")).toBe(true);
    expect(await sandbox.files.makeDir("/home/user/proj/src")).toBe(false);
    await sandbox.files.write("/home/user/proj/src/a.txt", "alpha");
    await sandbox.files.rename("/home/user/proj/src/a.txt", "/home/user/proj/b.txt");
    const names = (await sandbox.files.list("/home/user/proj")).map((e) => e.name).sort();
    expect(names).toEqual(["b.txt", "src"]);
    const info = await sandbox.files.getInfo("/home/user/proj/b.txt");
    expect(info.size).toBe(5);
    expect(info.type).toBe("file");
    const owner = await sandbox.commands.run("stat -c %U /home/user/proj/b.txt");
    expect(owner.stdout.trim()).toBe("user");
    expect(await sandbox.files.read("proj/b.txt")).toBe("alpha");
    expect(await sandbox.files.remove("/home/user/proj")).toBe(true);
    expect(await sandbox.files.exists("/home/user/proj")).toBe(false);
    await expect(sandbox.files.read("/home/user/proj/b.txt")).rejects.toBeInstanceOf(NotFoundError);
  });

  it("sees file changes through watchDir", async () => {
    await sandbox.files.makeDir("/home/user/watched");
    const events: string[] = [];
    const handle = await sandbox.files.watchDir("/home/user/watched", (e) => {
      events.push(`${e.type}:${e.name}`);
    });
    await sandbox.commands.run("echo x > /home/user/watched/new.txt");
    const deadline = Date.now() + 5_000;
    while (!events.some((e) => e.includes("new.txt")) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    await handle.stop();
    expect(events.some((e) => e.includes("new.txt"))).toBe(true);
  });

  it("keeps files confined to the sandbox: host paths are not reachable, even through symlinks", async () => {
    await sandbox.commands.run("ln -sf / /home/user/hostroot");
    // The server's admin key lives on the host at this path; inside the sandbox it does not exist.
    await expect(sandbox.files.read(`/home/user/hostroot${server.dataDir}/admin-key`)).rejects.toBeInstanceOf(
      NotFoundError,
    );
    await expect(sandbox.files.read(`../../..${server.dataDir}/admin-key`)).rejects.toBeInstanceOf(NotFoundError);
    const escaped = await sandbox.commands.run(`cat ${server.dataDir}/admin-key 2>&1 || true`);
    expect(escaped.stdout).not.toContain(server.apiKey);
  });

  it("runs a background command, sends stdin, and reconnects by pid", async () => {
    const handle = await sandbox.commands.run("cat", { background: true, stdin: true });
    await handle.sendStdin("first line\n");
    await handle.disconnect();
    const processes = await sandbox.commands.list();
    expect(processes.map((p) => p.pid)).toContain(handle.pid);
    const again = await sandbox.commands.connect(handle.pid);
    await sandbox.commands.sendStdin(handle.pid, "second line\n");
    await sandbox.commands.closeStdin(handle.pid);
    const result = await again.wait();
    // Reconnecting replays what the process wrote while nobody was attached.
    expect(result.stdout).toBe("first line\nsecond line\n");
  });

  it("kills a background command", async () => {
    const handle = await sandbox.commands.run("sleep 600", { background: true });
    expect(await handle.kill()).toBe(true);
    const err = await handle.wait().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandExitError);
    expect(await sandbox.commands.kill(handle.pid)).toBe(false);
  });

  it("streams huge output without holding it all (the SDK keeps a bounded copy)", async () => {
    let received = 0;
    const result = await sandbox.commands.run("head -c 40000000 /dev/zero | tr '\\0' x", {
      maxOutputBytes: 1024 * 1024,
      onStdout: (d) => {
        received += d.length;
      },
    });
    expect(received).toBe(40_000_000);
    expect(result.stdout.length).toBeLessThanOrEqual(1024 * 1024);
  });

  it("drives an interactive PTY session with resize", async () => {
    let screen = "";
    const decoder = new TextDecoder();
    const term = await sandbox.pty.create({
      cols: 80,
      rows: 24,
      onData: (d) => {
        screen += decoder.decode(d, { stream: true });
      },
    });
    await sandbox.pty.resize(term.pid, { cols: 100, rows: 30 });
    await sandbox.pty.sendInput(term.pid, "echo $((6*7)); stty size\n");
    const deadline = Date.now() + 10_000;
    while (!(screen.includes("42") && screen.includes("30 100")) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(screen).toContain("42");
    expect(screen).toContain("30 100");
    await sandbox.pty.sendInput(term.pid, "exit\n");
    // `exit` ends the shell, and with it the PTY session, with status 0.
    expect((await term.wait()).exitCode).toBe(0);
  });

  it("lists sandboxes by metadata and connects by id", async () => {
    const listed = await Sandbox.list({ ...opts(), metadata: { suite: "sdk-e2e" } });
    expect(listed.map((s) => s.id)).toEqual([sandbox.sandboxId]);
    const same = await Sandbox.connect(sandbox.sandboxId, opts());
    expect((await same.commands.run("echo $GREETING")).stdout).toBe("hello\n");
  });

  it("answers bad input with typed errors", async () => {
    await expect(Sandbox.connect("sb_aaaaaaaaaaaaaaaaaaaa", opts())).rejects.toBeInstanceOf(SandboxNotFoundError);
    await expect(Sandbox.create({ ...opts(), template: "pyhton" })).rejects.toBeInstanceOf(TemplateNotFoundError);
    await expect(Sandbox.create({ ...opts(), resources: { memoryMb: 1 } })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
  });

  it("kills a sandbox: its files and processes are gone, and kill is idempotent", async () => {
    const other = await Sandbox.create(opts());
    await other.files.write("/home/user/x", "x");
    expect(await other.kill()).toBe(true);
    expect(await other.kill()).toBe(false);
    await expect(other.commands.run("true")).rejects.toBeInstanceOf(SandboxNotFoundError);
  });
});
