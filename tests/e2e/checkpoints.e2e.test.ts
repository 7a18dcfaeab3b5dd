import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { CheckpointNotFoundError, Sandbox } from "@burrow/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliMain, startTestServer, type TestServer } from "./harness.js";

/** sha256 of every regular file under `dir` in the sandbox, as "hash  path" lines. */
async function fingerprint(sandbox: Sandbox, dir: string): Promise<string> {
  const r = await sandbox.commands.run(`cd ${dir} && find . -type f -print0 | sort -z | xargs -0 -r sha256sum`, {
    user: "root",
  });
  return r.stdout;
}

function duBytes(path: string): number {
  return Number(execFileSync("du", ["-sb", path], { encoding: "utf8" }).split("\t")[0]);
}

function blobBytes(dataDir: string): number {
  let total = 0;
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else total += st.size;
    }
  };
  if (existsSync(join(dataDir, "blobs"))) walk(join(dataDir, "blobs"));
  return total;
}

// Written to a temp file and renamed, so a read never sees the file truncated mid-write.
const COUNTER =
  "i=0; while true; do i=$((i+1)); echo $i > /home/user/count.tmp && mv /home/user/count.tmp /home/user/count; sleep 0.05; done";

/**
 * The counter's value once it is above `floor`, polled for up to 20 s: on a loaded 2-core host
 * the counter's pace varies, so the test waits for progress instead of sleeping a fixed time.
 */
async function countAbove(sandbox: Sandbox, floor: number): Promise<number> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = Number((await sandbox.files.read("/home/user/count")).trim());
    if (value > floor || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Checkpoints with real gVisor: fs and full, restore in place, fork, diff, dedupe and GC.
describe("checkpoints", () => {
  let server: TestServer;
  const opts = () => ({ apiUrl: server.url, apiKey: server.apiKey });

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server?.dispose();
  });

  it("restore brings the files back byte-identical, deletions included, and diff lists exactly the changes", async () => {
    const sandbox = await Sandbox.create(opts());
    await sandbox.commands.run(
      "mkdir -p /home/user/work/sub && cd /home/user/work && echo one > a.txt && printf 'l1\\nl2\\nl3\\n' > b.txt && head -c 5000000 /dev/urandom > sub/big.bin && ln -s a.txt link && rm -f /etc/motd && echo tmp > /tmp/t",
      { user: "root" },
    );
    const before = await fingerprint(sandbox, "/home/user");
    const ck = await sandbox.checkpoints.create({ name: "base" });
    expect(ck.mode).toBe("fs");
    expect(ck.parentId).toBeNull();
    expect((await sandbox.getInfo()).state).toBe("running");

    await sandbox.commands.run(
      "cd /home/user/work && echo two >> a.txt && rm b.txt && echo new > c.txt && rm -rf sub && echo back > /etc/motd && rm /tmp/t",
      { user: "root" },
    );
    const diff = await sandbox.checkpoints.diff(ck.id, "now");
    const changes = diff.entries.map((e) => `${e.change} ${e.path}`).sort();
    expect(changes).toEqual(
      [
        "added /etc/motd",
        "added /home/user/work/c.txt",
        "modified /home/user/work/a.txt",
        "removed /home/user/work/b.txt",
        "removed /home/user/work/sub",
        "removed /home/user/work/sub/big.bin",
        "removed /tmp/t",
      ].sort(),
    );
    const text = await sandbox.checkpoints.diff(ck.id, "now", { path: "/home/user/work/a.txt" });
    expect(text.unified).toContain("+two");

    const after = await sandbox.checkpoints.create({ name: "changed" });
    expect(after.parentId).toBe(ck.id);
    const between = await sandbox.checkpoints.diff(ck.id, after.id);
    expect(between.entries.map((e) => `${e.change} ${e.path}`).sort()).toEqual(changes);

    const restored = await sandbox.checkpoints.restore(ck.id);
    expect(restored.state).toBe("running");
    expect(await fingerprint(sandbox, "/home/user")).toBe(before);
    expect((await sandbox.commands.run("test -e /etc/motd; echo $?; cat /tmp/t")).stdout).toBe("1\ntmp\n");
    expect((await sandbox.checkpoints.diff(ck.id, "now")).entries).toEqual([]);

    // Restore then checkpoint branches: the new checkpoint's parent is the restored one.
    const branch = await sandbox.checkpoints.create();
    expect(branch.parentId).toBe(ck.id);
    const { checkpoints, headId } = await sandbox.checkpoints.list();
    expect(checkpoints.map((c) => c.id)).toEqual([ck.id, after.id, branch.id]);
    expect(headId).toBe(branch.id);
    await sandbox.kill();
  });

  it("a full checkpoint restores the same process, continuing from the checkpointed value", async () => {
    const sandbox = await Sandbox.create(opts());
    const counter = await sandbox.commands.run(COUNTER, { background: true, timeoutMs: 0 });
    await counter.disconnect();
    await new Promise((r) => setTimeout(r, 500));
    const ck = await sandbox.checkpoints.create({ mode: "full" });
    expect(ck.mode).toBe("full");
    const atCheckpoint = Number((await sandbox.files.read("/home/user/count")).trim());
    expect(atCheckpoint).toBeGreaterThan(0);
    expect((await sandbox.commands.list()).map((p) => p.pid)).toContain(counter.pid);
    const later = await countAbove(sandbox, atCheckpoint + 5);
    expect(later).toBeGreaterThan(atCheckpoint + 5);

    await sandbox.checkpoints.restore(ck.id);
    expect((await sandbox.commands.list()).map((p) => p.pid)).toContain(counter.pid);
    const resumed = Number((await sandbox.files.read("/home/user/count")).trim());
    expect(resumed).toBeLessThan(later);
    expect(await countAbove(sandbox, resumed)).toBeGreaterThan(resumed);
    await sandbox.kill();
  });

  it("fork ×5 gives five independent sandboxes with the same files at far below 5× the disk", async () => {
    const sandbox = await Sandbox.create(opts());
    await sandbox.commands.run("head -c 20000000 /dev/urandom > /home/user/data.bin && echo origin > /home/user/who");
    const ck = await sandbox.checkpoints.create();
    const expected = await fingerprint(sandbox, "/home/user");
    const fork = await sandbox.checkpoints.fork(ck.id, { count: 5 });
    expect(fork.sandboxIds).toHaveLength(5);
    const forks = await Promise.all(fork.sandboxIds.map((id) => Sandbox.connect(id, opts())));
    try {
      for (const f of forks) expect(await fingerprint(f, "/home/user")).toBe(expected);
      const uppers = fork.sandboxIds.reduce((s, id) => s + duBytes(join(server.dataDir, "sandboxes", id, "upper")), 0);
      expect(uppers).toBeLessThan(20_000_000);
      await Promise.all(forks.map((f, i) => f.commands.run(`echo fork${i} > /home/user/who`)));
      for (const [i, f] of forks.entries()) expect(await f.files.read("/home/user/who")).toBe(`fork${i}\n`);
      expect(await sandbox.files.read("/home/user/who")).toBe("origin\n");
      // A fork's own checkpoint and restore work on top of its base layer.
      const first = forks[0] as Sandbox;
      const fck = await first.checkpoints.create();
      await first.commands.run("rm /home/user/data.bin");
      await first.checkpoints.restore(fck.id);
      expect(await fingerprint(first, "/home/user")).toContain("data.bin");
      // Fork of "now".
      const now = await sandbox.checkpoints.fork("now");
      expect(now.sandboxIds).toHaveLength(1);
      await Sandbox.kill(now.sandboxIds[0] as string, opts());
    } finally {
      await Promise.all(forks.map((f) => f.kill()));
      await sandbox.kill();
    }
  });

  it("dedupes: ten checkpoints of an unchanged 200 MB sandbox store it once; GC keeps referenced chunks", async () => {
    const sandbox = await Sandbox.create(opts());
    await sandbox.commands.run("head -c 200000000 /dev/urandom > /home/user/big.bin", { timeoutMs: 120_000 });
    const startBytes = blobBytes(server.dataDir);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await sandbox.checkpoints.create({ wait: true })).id);
    const stored = blobBytes(server.dataDir) - startBytes;
    expect(stored).toBeGreaterThan(200_000_000);
    expect(stored).toBeLessThan(205_000_000);
    const infos = await sandbox.checkpoints.list();
    expect(infos.checkpoints.every((c) => c.status === "ready")).toBe(true);
    expect(infos.checkpoints[0]?.storedBytes).toBeGreaterThan(200_000_000);
    expect(infos.checkpoints.slice(1).every((c) => c.storedBytes < 100_000)).toBe(true);

    for (const id of ids.slice(0, 9)) expect(await sandbox.checkpoints.delete(id)).toBe(true);
    expect(await sandbox.checkpoints.delete(ids[0] as string)).toBe(false);
    // Deleting also collects what earlier (deleted) sandboxes left; the live chunks stay.
    expect(blobBytes(server.dataDir)).toBeGreaterThan(200_000_000);
    await sandbox.commands.run("rm /home/user/big.bin");
    await sandbox.checkpoints.restore(ids[9] as string);
    const size = await sandbox.commands.run("stat -c %s /home/user/big.bin");
    expect(size.stdout.trim()).toBe("200000000");
    await sandbox.checkpoints.delete(ids[9] as string);
    expect(blobBytes(server.dataDir)).toBeLessThan(1_000_000);
    await sandbox.kill();
  });

  it("answers 404 for unknown checkpoints and deleted sandboxes", async () => {
    const sandbox = await Sandbox.create(opts());
    const ck = await sandbox.checkpoints.create();
    await expect(sandbox.checkpoints.get("ck_aaaaaaaaaaaaaaaaaaaa")).rejects.toBeInstanceOf(CheckpointNotFoundError);
    const res = await server.request("POST", `/v1/sandboxes/${sandbox.sandboxId}/checkpoints/ck_bogus/restore`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("checkpoint_not_found");
    // Concurrent checkpoint and restore of one sandbox are serialised.
    const [a, , b] = await Promise.all([
      sandbox.checkpoints.create(),
      sandbox.checkpoints.restore(ck.id),
      sandbox.checkpoints.create(),
    ]);
    expect(a.parentId).toBe(ck.id);
    expect(b.parentId).toBe(ck.id);
    await sandbox.kill();
    const gone = await server.request("POST", `/v1/sandboxes/${sandbox.sandboxId}/checkpoints/${ck.id}/restore`);
    expect(gone.status).toBe(404);
  });

  it("the CLI checkpoints, shows the tree, diffs and restores", async () => {
    const sandbox = await Sandbox.create(opts());
    const cli = (...args: string[]) =>
      execFileSync(process.execPath, [cliMain, ...args], {
        encoding: "utf8",
        env: { ...process.env, ...server.clientEnv },
      });
    const id = sandbox.sandboxId;
    const first = JSON.parse(cli("checkpoint", id, "--name", "one", "--json")) as { id: string };
    await sandbox.files.write("/home/user/notes.txt", "hello\n");
    cli("checkpoint", id, "--name", "two");
    expect(cli("diff", id, first.id)).toBe("A /home/user/notes.txt\n");
    expect(cli("diff", id, first.id, "now", "--path", "/home/user/notes.txt")).toContain("+hello");
    cli("restore", id, first.id);
    cli("checkpoint", id, "--name", "three");
    const tree = cli("checkpoints", id);
    expect(tree).toMatch(/"one"[\s\S]*├─ .*"two"[\s\S]*└─ .*"three".*\(head\)/);
    const forked = cli("fork", id, "now").trim().split("\n");
    expect(forked).toHaveLength(1);
    await Sandbox.kill(forked[0] as string, opts());
    await sandbox.kill();
  });

  it("answers once the sandbox runs again; storing finishes in the background, and a SIGKILL then loses nothing", async () => {
    const sandbox = await Sandbox.create(opts());
    await sandbox.commands.run("head -c 200000000 /dev/urandom > /home/user/big.bin && echo v1 > /home/user/v", {
      timeoutMs: 120_000,
    });
    const ck = await sandbox.checkpoints.create({ name: "staged" });
    // The 200 MB copy is not in the blob store yet when the call returns.
    expect(ck.status).toBe("storing");
    expect(ck.sizeBytes).toBeGreaterThanOrEqual(200_000_000);
    await sandbox.commands.run("echo v2 > /home/user/v && rm /home/user/big.bin");
    await server.stop("SIGKILL");
    server = await startTestServer(server.dataDir);
    const again = await Sandbox.connect(sandbox.sandboxId, opts());
    await again.checkpoints.restore(ck.id);
    expect(await again.files.read("/home/user/v")).toBe("v1\n");
    expect((await again.commands.run("stat -c %s /home/user/big.bin")).stdout.trim()).toBe("200000000");
    const info = await again.checkpoints.get(ck.id);
    expect(info.status).toBe("ready");
    // Blobs written before the kill are kept and not counted again.
    expect(info.storedBytes).toBeGreaterThan(0);
    const leftovers = readdirSync(join(server.dataDir, "sandboxes", sandbox.sandboxId)).filter((n) =>
      n.startsWith("checkpoint-stage-"),
    );
    expect(leftovers).toEqual([]);
    await again.kill();
  });

  it("a server SIGKILLed mid-checkpoint comes back with the checkpoint complete or absent", async () => {
    const sandbox = await Sandbox.create(opts());
    await sandbox.commands.run("head -c 300000000 /dev/urandom > /home/user/big.bin", { timeoutMs: 120_000 });
    const pending = sandbox.checkpoints.create({ name: "interrupted" }).catch(() => null);
    await new Promise((r) => setTimeout(r, 300));
    await server.stop("SIGKILL");
    await pending;
    server = await startTestServer(server.dataDir);
    const again = await Sandbox.connect(sandbox.sandboxId, opts());
    const { checkpoints } = await again.checkpoints.list();
    for (const ck of checkpoints) {
      await again.checkpoints.restore(ck.id);
      expect((await again.commands.run("stat -c %s /home/user/big.bin")).stdout.trim()).toBe("300000000");
    }
    // No half-written blob of the killed server is left (a checkpoint staged before the kill
    // finishes storing after the restart; a restore waits for it).
    const tmp = join(server.dataDir, "blobs", "tmp");
    expect(existsSync(tmp) ? readdirSync(tmp) : []).toEqual([]);
    const fresh = await again.checkpoints.create();
    expect(fresh.sizeBytes).toBeGreaterThanOrEqual(300_000_000);
    await again.kill();
  });
});
