import { statSync } from "node:fs";
import { join } from "node:path";
import { Sandbox } from "@burrow/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";

const NO_AUTO_SLEEP = { standbyAfterMs: 0, hibernateAfterMs: 0 };
const MIB = 1024 * 1024;

/** Size and use of / inside the sandbox, in MiB (df's 1M blocks). */
async function rootDf(sandbox: Sandbox): Promise<{ sizeMb: number; usedMb: number }> {
  const out = (await sandbox.commands.run("df -BM --output=size,used / | tail -1")).stdout.trim();
  const [size, used] = out.split(/\s+/).map((v) => Number.parseInt(v, 10));
  return { sizeMb: size ?? Number.NaN, usedMb: used ?? Number.NaN };
}

/** Writes `mb` MiB to `path` inside; the exit code and stderr of dd. */
async function fill(sandbox: Sandbox, path: string, mb: number): Promise<{ exitCode: number; stderr: string }> {
  return sandbox.commands.run(`dd if=/dev/zero of=${path} bs=1M count=${mb} status=none`, { timeoutMs: 120_000 }).then(
    (r) => ({ exitCode: r.exitCode, stderr: r.stderr }),
    (err: unknown) => {
      const result = (err as { result?: { exitCode: number; stderr: string } }).result;
      if (!result) throw err;
      return result;
    },
  );
}

// Issue 16, item 3: a sandbox's files live on a disk of resources.diskMb; past it, ENOSPC inside.
describe("disk limits with real gVisor", () => {
  let server: TestServer;
  const opts = () => ({ apiUrl: server.url, apiKey: server.apiKey, lifecycle: NO_AUTO_SLEEP });

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server?.dispose();
  });

  it("writes past the disk get ENOSPC inside; the host and another sandbox are unaffected", async () => {
    const small = await Sandbox.create({ ...opts(), resources: { diskMb: 256 } });
    const other = await Sandbox.create(opts());
    try {
      expect((await small.getInfo()).resources.diskMb).toBe(256);
      const df = await rootDf(small);
      expect(df.sizeMb).toBeGreaterThan(200);
      expect(df.sizeMb).toBeLessThanOrEqual(256);
      const full = await fill(small, "/home/user/fill", 400);
      expect(full.exitCode).not.toBe(0);
      expect(full.stderr).toMatch(/No space left on device/);
      // /tmp is on the same disk.
      expect((await fill(small, "/tmp/more", 20)).stderr).toMatch(/No space left on device/);
      // On the host the sandbox holds one file of at most its disk's size, not the 420 MiB asked for.
      const image = statSync(join(server.dataDir, "sandboxes", small.sandboxId, "disk.img"));
      expect(image.size).toBe(256 * MIB);
      expect(image.blocks * 512).toBeLessThanOrEqual(256 * MIB);
      // The other sandbox writes what the full one could not.
      expect((await fill(other, "/home/user/fill", 300)).exitCode).toBe(0);
      // The full sandbox lives on: freeing space lets it write again.
      expect((await small.getInfo()).state).toBe("running");
      await small.commands.run("rm -f /home/user/fill /tmp/more");
      expect((await fill(small, "/home/user/again", 50)).exitCode).toBe(0);
    } finally {
      await small.kill();
      await other.kill();
    }
  }, 240_000);

  it("the disk and its files survive hibernation and a restart; a fork gets a disk of the same size", async () => {
    const sandbox = await Sandbox.create({ ...opts(), resources: { diskMb: 192 } });
    const forks: Sandbox[] = [];
    try {
      await sandbox.commands.run("echo kept > /home/user/kept");
      expect((await sandbox.hibernate()).state).toBe("hibernated");
      expect((await fill(sandbox, "/home/user/fill", 300)).stderr).toMatch(/No space left on device/);
      expect(await sandbox.files.read("/home/user/kept")).toBe("kept\n");
      expect((await sandbox.restart()).state).toBe("running");
      expect((await rootDf(sandbox)).sizeMb).toBeLessThanOrEqual(192);
      await sandbox.commands.run("rm -f /home/user/fill");

      const ck = await sandbox.checkpoints.create({ mode: "fs" });
      const fork = await sandbox.checkpoints.fork(ck.id);
      const forked = await Sandbox.connect(fork.sandboxIds[0] as string, opts());
      forks.push(forked);
      expect((await forked.getInfo()).resources.diskMb).toBe(192);
      expect(await forked.files.read("/home/user/kept")).toBe("kept\n");
      expect((await fill(forked, "/home/user/fill", 300)).stderr).toMatch(/No space left on device/);
    } finally {
      for (const f of forks) await f.kill();
      await sandbox.kill();
    }
  }, 240_000);

  it("grows a disk: in place while running where the host allows it, else while hibernated; ENOSPC writes fit after", async () => {
    const sandbox = await Sandbox.create({ ...opts(), resources: { diskMb: 128 } });
    try {
      const write = (mb: number) =>
        sandbox.commands
          .run(`dd if=/dev/zero of=/home/user/f bs=1M count=${mb} status=none`, { timeoutMs: 120_000 })
          .then(
            () => 0,
            (err: unknown) => (err as { result?: { exitCode: number } }).result?.exitCode ?? -1,
          );
      const dfMb = async () =>
        Number.parseInt((await sandbox.commands.run("df -BM --output=size / | tail -1")).stdout.trim(), 10);
      expect(await write(200)).not.toBe(0);
      await sandbox.commands.run("rm -f /home/user/f");
      // Growing a mounted ext4 needs CAP_SYS_RESOURCE on the host: with it the disk grows now; without
      // it the answer is 409 and nothing changed.
      const live = await sandbox.update({ resources: { diskMb: 256 } }).then(
        (info) => info,
        (err: unknown) => err as { code?: string },
      );
      if ("resources" in live) {
        expect(live.resources.diskMb).toBe(256);
        expect(await dfMb()).toBeGreaterThan(200);
      } else {
        expect(live.code).toBe("conflict");
        expect((await sandbox.getInfo()).resources.diskMb).toBe(128);
        expect(await dfMb()).toBeLessThanOrEqual(128);
      }
      // Hibernated, the disk grows offline; the sandbox wakes on it with its processes and files.
      await sandbox.commands.run("echo kept > /home/user/kept");
      await sandbox.hibernate();
      expect((await sandbox.update({ resources: { diskMb: 512 } })).resources.diskMb).toBe(512);
      expect((await sandbox.getInfo()).state).toBe("hibernated");
      expect(await write(200)).toBe(0);
      expect(await sandbox.files.read("/home/user/kept")).toBe("kept\n");
      expect(await dfMb()).toBeGreaterThan(400);
      const metrics = await sandbox.getMetrics();
      expect(metrics.diskTotalBytes).toBeGreaterThan(400 * 1024 * 1024);
      expect(metrics.diskUsedBytes).toBeGreaterThan(200 * 1024 * 1024);
      expect(metrics.memoryBytes).toBeGreaterThan(0);
    } finally {
      await sandbox.kill();
    }
  }, 240_000);

  it("restores a checkpoint whose files do not fit beside the current ones on the disk (staged on the host)", async () => {
    const sandbox = await Sandbox.create({ ...opts(), resources: { diskMb: 128 } });
    try {
      const sum = async (path: string) => (await sandbox.commands.run(`sha256sum ${path} | cut -c1-64`)).stdout.trim();
      await sandbox.commands.run("head -c 70M /dev/urandom > /home/user/a.bin", { timeoutMs: 120_000 });
      const a = await sum("/home/user/a.bin");
      const ck = await sandbox.checkpoints.create({ mode: "fs" });
      for (let i = 0; i < 600 && (await sandbox.checkpoints.get(ck.id)).status !== "ready"; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      // Now a.bin is gone and b.bin fills most of the disk: a.bin cannot be staged beside it.
      await sandbox.commands.run("rm /home/user/a.bin && head -c 70M /dev/urandom > /home/user/b.bin", {
        timeoutMs: 120_000,
      });
      expect((await sandbox.checkpoints.restore(ck.id)).state).toBe("running");
      expect(await sum("/home/user/a.bin")).toBe(a);
      expect((await sandbox.commands.run("test -e /home/user/b.bin && echo yes || echo no")).stdout.trim()).toBe("no");
      expect((await rootDf(sandbox)).sizeMb).toBeLessThanOrEqual(128);
    } finally {
      await sandbox.kill();
    }
  }, 240_000);
});
