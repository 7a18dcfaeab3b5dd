import { createHash, randomBytes } from "node:crypto";
import { CommandExitError, FilesystemEventType, NotFoundError, type Sandbox } from "e2b";
import { expect, it } from "vitest";

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

/**
 * The envd-protocol part of the e2b SDK (commands, files, PTY) against one sandbox, reached as
 * `sandbox()` returns it: through Burrow's sandbox plane, or straight at the agent.
 */
export function defineEnvdCases(sandbox: () => Sandbox, dir: string): void {
  const home = `/home/user/${dir}`;

  it("reads and writes files with the permissions of the user named", async () => {
    const sb = sandbox();
    await expect(sb.files.read("/etc/shadow")).rejects.toThrow(/permission denied/i);
    await expect(sb.files.write("/etc/passwd", "user::0:0::/root:/bin/sh\n")).rejects.toThrow(/permission denied/i);
    expect(await sb.files.read("/etc/shadow", { user: "root" })).toMatch(/^root:/);
    expect(await sb.files.read("/etc/passwd", { user: "root" })).toMatch(/^root:x:0:0:/);
  });

  it("runs foreground commands with env, cwd, user, and a typed error on failure", async () => {
    const sb = sandbox();
    const result = await sb.commands.run("echo $GREETING $EXTRA; whoami; pwd", { envs: { EXTRA: "world" } });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe("hello world\nuser\n/home/user\n");
    expect((await sb.commands.run("whoami; pwd", { user: "root", cwd: "/tmp" })).stdout).toBe("root\n/tmp\n");
    const err = await sb.commands.run("echo oops >&2; exit 3").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandExitError);
    expect((err as CommandExitError).exitCode).toBe(3);
    expect((err as CommandExitError).stderr).toBe("oops\n");
  });

  it("streams output live through onStdout/onStderr", async () => {
    const seen: string[] = [];
    const result = await sandbox().commands.run("for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.05; done", {
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
    expect(seen.join("")).toContain("e:err3");
  });

  it("runs in the background, takes stdin, and reconnects by pid", async () => {
    const sb = sandbox();
    const handle = await sb.commands.run("cat", { background: true, stdin: true });
    await handle.sendStdin("first line\n");
    await handle.disconnect();
    expect((await sb.commands.list()).map((p) => p.pid)).toContain(handle.pid);
    const again = await sb.commands.connect(handle.pid);
    await sb.commands.sendStdin(handle.pid, "second line\n");
    await sb.commands.closeStdin(handle.pid);
    const result = await again.wait();
    expect(result.stdout).toContain("second line\n");
  });

  it("kills a background command", async () => {
    const sb = sandbox();
    const handle = await sb.commands.run("sleep 600", { background: true });
    expect(await handle.kill()).toBe(true);
    expect(await handle.wait().catch((e: unknown) => e)).toBeInstanceOf(CommandExitError);
    expect(await sb.commands.kill(handle.pid)).toBe(false);
  });

  it("writes, reads, lists, stats, renames and removes files", async () => {
    const sb = sandbox();
    expect(await sb.files.makeDir(`${home}/src`)).toBe(true);
    expect(await sb.files.makeDir(`${home}/src`)).toBe(false);
    await sb.files.write(`${home}/src/a.txt`, "alpha");
    expect(await sb.files.exists(`${home}/src/a.txt`)).toBe(true);
    const moved = await sb.files.rename(`${home}/src/a.txt`, `${home}/b.txt`);
    expect(moved.path).toBe(`${home}/b.txt`);
    expect((await sb.files.list(home)).map((e) => e.name).sort()).toEqual(["b.txt", "src"]);
    expect((await sb.files.getInfo(`${home}/b.txt`)).size).toBe(5);
    expect(await sb.files.read(`${home}/b.txt`)).toBe("alpha");
    await sb.files.remove(`${home}/b.txt`);
    expect(await sb.files.exists(`${home}/b.txt`)).toBe(false);
    await expect(sb.files.read(`${home}/b.txt`)).rejects.toBeInstanceOf(NotFoundError);
  });

  it("round-trips binary data byte for byte", async () => {
    const sb = sandbox();
    const data = randomBytes(3 * 1024 * 1024);
    const sha = createHash("sha256").update(data).digest("hex");
    await sb.files.write(`${home}/blob.bin`, new Blob([data]));
    const back = await sb.files.read(`${home}/blob.bin`, { format: "bytes" });
    expect(createHash("sha256").update(back).digest("hex")).toBe(sha);
    expect((await sb.commands.run(`sha256sum ${home}/blob.bin | cut -d' ' -f1`)).stdout.trim()).toBe(sha);
  });

  it("sees writes through watchDir as E2B's envd reports them: create and write of the file, never a temp file", async () => {
    const sb = sandbox();
    await sb.files.makeDir(`${home}/watched`);
    const events: string[] = [];
    const watch = await sb.files.watchDir(
      `${home}/watched`,
      (e) => {
        events.push(`${e.type}:${e.name}`);
      },
      { recursive: true },
    );
    const write = `${FilesystemEventType.WRITE}:new.txt`;
    try {
      await sb.files.write(`${home}/watched/new.txt`, "x");
      await until(() => events.includes(write));
      const afterFirst = events.length;
      await sb.files.write(`${home}/watched/new.txt`, "overwritten");
      await until(() => events.slice(afterFirst).includes(write));
      // A folder made after the watch started is watched too.
      await sb.files.makeDir(`${home}/watched/later`);
      await until(() => events.includes(`${FilesystemEventType.CREATE}:later`));
      await sb.files.write(`${home}/watched/later/inner.txt`, "y");
      await until(() => events.includes(`${FilesystemEventType.WRITE}:later/inner.txt`));
    } finally {
      await watch.stop();
    }
    expect(events.indexOf(`${FilesystemEventType.CREATE}:new.txt`)).toBeLessThan(events.indexOf(write));
    expect(events.filter((e) => e.includes(".upload-"))).toEqual([]);
  });

  it("drives a PTY: input, resize, kill", async () => {
    const sb = sandbox();
    let screen = "";
    const decoder = new TextDecoder();
    const term = await sb.pty.create({
      cols: 80,
      rows: 24,
      onData: (d) => {
        screen += decoder.decode(d, { stream: true });
      },
    });
    await sb.pty.resize(term.pid, { cols: 100, rows: 30 });
    await sb.pty.sendInput(term.pid, new TextEncoder().encode("echo $((6*7)); stty size\n"));
    await until(() => screen.includes("42") && screen.includes("30 100"));
    expect(screen).toContain("42");
    expect(screen).toContain("30 100");
    expect(await sb.pty.kill(term.pid)).toBe(true);
    expect(await term.wait().catch((e: unknown) => e)).toBeInstanceOf(CommandExitError);
  });
}
