import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ConflictError, InvalidArgumentError, Sandbox, Volumes } from "@burrow/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliMain, runNode, startTestServer, type TestServer } from "./harness.js";

const MB = 1024 * 1024;

/** Mount points under `dir` on the host. */
function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[1] ?? "")
    .filter((m) => m.startsWith(`${dir}/`));
}

/** Loop devices whose backing file is under `dir`. */
function loopsUnder(dir: string): string[] {
  const out = execFileSync("losetup", ["--list", "--noheadings", "--raw", "-O", "NAME,BACK-FILE"], {
    encoding: "utf8",
  });
  return out
    .split("\n")
    .filter((l) => (l.split(" ")[1] ?? "").startsWith(`${dir}/`))
    .map((l) => l.split(" ")[0] ?? "");
}

// Volumes with real gVisor: shared and read-only mounts, the size limit, sleep, checkpoints and
// forks, symlinks made inside a sandbox, and the host side (mounts and loop devices) at stop and start.
describe("volumes", () => {
  let server: TestServer;
  const opts = () => ({ apiUrl: server.url, apiKey: server.apiKey });
  const sh = async (sandbox: Sandbox, cmd: string) => {
    const r = await sandbox.commands
      .run(cmd, { user: "root" })
      .catch((err: { stdout?: string; stderr?: string; exitCode?: number }) => err);
    return { stdout: r.stdout ?? "", stderr: r.stderr ?? "", exitCode: r.exitCode ?? -1 };
  };

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server?.dispose();
  });

  it("two sandboxes see each other's writes, a read-only mount refuses writes, and the files outlive every sandbox", async () => {
    await Volumes.create("shared", { ...opts(), sizeBytes: 64 * MB });
    const a = await Sandbox.create({ ...opts(), volumes: [{ name: "shared", path: "/data" }] });
    const b = await Sandbox.create({ ...opts(), volumes: [{ name: "shared", path: "/mnt/shared" }] });
    const ro = await Sandbox.create({ ...opts(), volumes: [{ name: "shared", path: "/data", readOnly: true }] });
    try {
      await a.commands.run("echo from-a > /data/a.txt");
      expect((await b.commands.run("cat /mnt/shared/a.txt")).stdout).toBe("from-a\n");
      await b.commands.run(
        "echo from-b >> /mnt/shared/a.txt && mkdir -p /mnt/shared/dir && echo x > /mnt/shared/dir/f",
      );
      expect((await a.commands.run("cat /data/a.txt")).stdout).toBe("from-a\nfrom-b\n");
      expect((await ro.commands.run("cat /data/dir/f")).stdout).toBe("x\n");
      const refused = await sh(ro, "echo no > /data/ro.txt");
      expect(refused.exitCode).not.toBe(0);
      expect(refused.stderr).toMatch(/Read-only file system/);
      expect((await sh(ro, "rm /data/a.txt")).stderr).toMatch(/Read-only file system/);
      // The files API writes on the host; sandboxes see it at once.
      await Volumes.write("shared", "/host.txt", "from-host", opts());
      expect((await a.commands.run("cat /data/host.txt")).stdout).toBe("from-host");
      const info = await Volumes.get("shared", opts());
      expect([...info.mountedBy].sort()).toEqual([a.sandboxId, b.sandboxId, ro.sandboxId].sort());
      await expect(Volumes.delete("shared", opts())).rejects.toThrow(ConflictError);
      await expect(Volumes.delete("shared", opts())).rejects.toThrow(new RegExp(a.sandboxId));
    } finally {
      for (const s of [a, b, ro]) await s.kill();
    }
    expect(new TextDecoder().decode(await Volumes.read("shared", "/a.txt", opts()))).toBe("from-a\nfrom-b\n");
    const names = (await Volumes.listFiles("shared", "/", { ...opts(), depth: 2 })).map((e) => e.path);
    expect(names).toEqual(["/a.txt", "/dir", "/dir/f", "/host.txt"]);
    const again = await Sandbox.create({ ...opts(), volumes: [{ name: "shared", path: "/data" }] });
    try {
      expect((await again.commands.run("cat /data/dir/f")).stdout).toBe("x\n");
    } finally {
      await again.kill();
    }
    expect(await Volumes.delete("shared", opts())).toBe(true);
  });

  it("writes past the size limit fail with ENOSPC in the sandbox and 507 on upload; the host disk is not used past it", async () => {
    const vol = await Volumes.create("small", { ...opts(), sizeBytes: 32 * MB });
    const s = await Sandbox.create({ ...opts(), volumes: [{ name: "small", path: "/small" }] });
    try {
      const r = await sh(s, "dd if=/dev/zero of=/small/big bs=1M count=64");
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr).toMatch(/No space left on device/);
      const image = join(server.dataDir, "volumes", vol.id, "disk.img");
      const allocated = Number(execFileSync("du", ["-B1", image], { encoding: "utf8" }).split("\t")[0]);
      expect(allocated).toBeLessThanOrEqual(33 * MB);
      const upload = await fetch(`${server.url}/v1/volumes/small/file?path=/more`, {
        method: "PUT",
        headers: { Authorization: `Bearer ${server.apiKey}` },
        body: new Uint8Array(4 * MB),
      });
      expect(upload.status).toBe(507);
      expect(((await upload.json()) as { error: { code: string } }).error.code).toBe("volume_full");
      await s.commands.run("rm /small/big");
      expect((await s.commands.run("echo ok > /small/after && cat /small/after")).stdout).toBe("ok\n");
    } finally {
      await s.kill();
    }
    await Volumes.delete("small", opts());
  });

  it("hibernate and wake keep the mount; a restore does not roll the volume back; a fork mounts the same volume", async () => {
    await Volumes.create("state", { ...opts(), sizeBytes: 32 * MB });
    const a = await Sandbox.create({ ...opts(), volumes: [{ name: "state", path: "/state" }] });
    const b = await Sandbox.create({ ...opts(), volumes: [{ name: "state", path: "/state" }] });
    const forks: string[] = [];
    try {
      await a.commands.run("echo v1 > /state/f && echo mine > /home/user/own");
      const ck = await a.checkpoints.create({ mode: "full" });
      await a.commands.run("echo v2 > /state/f");
      await a.hibernate();
      expect((await a.getInfo()).state).toBe("hibernated");
      await b.commands.run("echo v3-from-b > /state/f");
      // Woken by the command: the volume is mounted again and shows b's write.
      expect((await a.commands.run("cat /state/f")).stdout).toBe("v3-from-b\n");
      await a.commands.run("echo v4 > /state/f && echo changed > /home/user/own");
      await a.checkpoints.restore(ck.id);
      // The sandbox's own files go back; the volume's stay as they are.
      expect((await a.commands.run("cat /home/user/own")).stdout).toBe("mine\n");
      expect((await a.commands.run("cat /state/f")).stdout).toBe("v4\n");
      const fork = await a.checkpoints.fork(ck.id);
      forks.push(...fork.sandboxIds);
      const f = await Sandbox.connect(fork.sandboxIds[0] as string, opts());
      expect((await f.commands.run("cat /state/f")).stdout).toBe("v4\n");
      await f.commands.run("echo from-fork > /state/g");
      expect((await b.commands.run("cat /state/g")).stdout).toBe("from-fork\n");
      expect((await Volumes.get("state", opts())).mountedBy).toContain(f.sandboxId);
    } finally {
      for (const id of forks) await (await Sandbox.connect(id, opts())).kill();
      await a.kill();
      await b.kill();
    }
    await Volumes.delete("state", opts());
  });

  it("symlinks made inside a sandbox never lead the files API to a host file", async () => {
    await Volumes.create("links", { ...opts(), sizeBytes: 16 * MB });
    const s = await Sandbox.create({ ...opts(), volumes: [{ name: "links", path: "/links" }] });
    try {
      await s.commands.run(
        "cd /links && ln -s / root && ln -s /etc/passwd pw && ln -s ../../../../.. up && mkdir d && ln -s /proc/self d/self",
        { user: "root" },
      );
      // A hard link to a file outside the volume cannot be made: another file system.
      expect((await sh(s, "ln /etc/hostname /links/hard")).exitCode).not.toBe(0);
      const entries = await Volumes.listFiles("links", "/", { ...opts(), depth: 3 });
      expect(entries.find((e) => e.path === "/root")).toMatchObject({ type: "symlink", target: "/" });
      for (const path of ["/pw", "/root/etc/passwd", "/up/etc/passwd", "/d/self/environ", "/../../etc/passwd"]) {
        await expect(Volumes.read("links", path, opts()), path).rejects.toThrow(InvalidArgumentError);
      }
      for (const path of ["/root", "/up", "/d/self"]) {
        await expect(Volumes.listFiles("links", path, opts()), path).rejects.toThrow(InvalidArgumentError);
      }
      await expect(Volumes.write("links", "/root/tmp/planted", "x", opts())).rejects.toThrow(InvalidArgumentError);
      await expect(Volumes.write("links", "/pw", "x", opts())).rejects.toThrow(InvalidArgumentError);
      expect(existsSync("/tmp/planted")).toBe(false);
      // Removing a link removes the link.
      await Volumes.remove("links", "/root", opts());
      expect(existsSync("/etc/passwd")).toBe(true);
      expect((await s.commands.run("ls /links")).stdout.split("\n").filter(Boolean).sort()).toEqual(["d", "pw", "up"]);
    } finally {
      await s.kill();
    }
    await Volumes.delete("links", opts());
  });

  it("the CLI: volume create, cp in and out, ls, rm (refused while mounted), create --volume", async () => {
    const cli = (...args: string[]) => runNode([cliMain, ...args], server.clientEnv, "piped in");
    const made = await cli("volume", "create", "cli-vol", "--size", "16M");
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout.trim()).toMatch(/^vol_/);
    expect((await cli("volume", "cp", "-", "cli-vol:/in.txt")).code).toBe(0);
    const sb = await cli("create", "--volume", "cli-vol:/v:ro");
    expect(sb.code, sb.stderr).toBe(0);
    const id = sb.stdout.trim();
    const cat = await cli("exec", id, "--", "cat", "/v/in.txt");
    expect(cat.stdout).toBe("piped in");
    const ls = await cli("volume", "ls");
    expect(ls.stdout).toMatch(/^cli-vol\tvol_[a-z2-7]{20}\t.*16 MiB\tmounted by /);
    expect(ls.stdout).toContain(id);
    const refused = await cli("volume", "rm", "cli-vol");
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(id);
    expect((await cli("rm", id)).code).toBe(0);
    expect((await cli("volume", "cp", "cli-vol:/in.txt", "-")).stdout).toBe("piped in");
    expect((await cli("volume", "rm", "cli-vol")).code).toBe(0);
    expect((await cli("volume", "rm", "cli-vol")).code).not.toBe(0);
  });

  it("mount validation: 400 for bad paths, 404 for unknown volumes, nothing started", async () => {
    await Volumes.create("valid", { ...opts(), sizeBytes: 16 * MB });
    for (const path of ["data", "/", "/proc/x", "/dev", "/opt/burrow/bin", "/a/../b"]) {
      const res = await server.request("POST", "/v1/sandboxes", { volumes: [{ name: "valid", path }] });
      expect(res.status, path).toBe(400);
    }
    const res = await server.request("POST", "/v1/sandboxes", { volumes: [{ name: "nope", path: "/x" }] });
    expect(res.status).toBe(404);
    const list = (await (await server.request("GET", "/v1/sandboxes")).json()) as { sandboxes: unknown[] };
    expect(list.sandboxes).toEqual([]);
    await Volumes.delete("valid", opts());
  });

  it("a stop unmounts every volume; a start after SIGKILL removes leftovers and mounts the volumes in use", async () => {
    await Volumes.create("keep", { ...opts(), sizeBytes: 16 * MB });
    let s = await Sandbox.create({ ...opts(), volumes: [{ name: "keep", path: "/keep" }] });
    const id = s.sandboxId;
    await s.commands.run("echo before > /keep/f");
    const volumesDir = join(server.dataDir, "volumes");
    expect(mountsUnder(volumesDir).length).toBe(1);

    await server.stop();
    // The sandbox runs on (its own mount holds the volume); the host has none left.
    expect(mountsUnder(volumesDir)).toEqual([]);
    server = await startTestServer(server.dataDir);
    expect(mountsUnder(volumesDir).length).toBe(1);
    // Mounted again on the loop device the running sandbox holds, never on a second one.
    expect(loopsUnder(volumesDir).length).toBe(1);
    s = await Sandbox.connect(id, opts());
    expect((await s.commands.run("cat /keep/f")).stdout).toBe("before\n");

    // A volume whose row a crash lost: storage, mount and loop device left on the host.
    const orphan = join(volumesDir, "vol_aaaaaaaaaaaaaaaaaaaa");
    mkdirSync(join(orphan, "mnt"), { recursive: true });
    execFileSync("truncate", ["-s", "16M", join(orphan, "disk.img")]);
    execFileSync("mkfs.ext4", ["-q", "-F", join(orphan, "disk.img")]);
    execFileSync("mount", ["-o", "loop", join(orphan, "disk.img"), join(orphan, "mnt")]);
    expect(loopsUnder(orphan).length).toBe(1);
    await server.stop("SIGKILL");
    // SIGKILL: nothing was unmounted.
    expect(mountsUnder(volumesDir).length).toBe(2);
    server = await startTestServer(server.dataDir);
    expect(mountsUnder(orphan)).toEqual([]);
    expect(loopsUnder(orphan)).toEqual([]);
    expect(existsSync(orphan)).toBe(false);
    expect(readdirSync(volumesDir).length).toBe(1);
    expect(mountsUnder(volumesDir).length).toBe(1);
    s = await Sandbox.connect(id, opts());
    expect((await s.commands.run("echo after >> /keep/f && cat /keep/f")).stdout).toBe("before\nafter\n");
    await s.kill();
    await Volumes.delete("keep", opts());
    expect(mountsUnder(volumesDir)).toEqual([]);
    expect(loopsUnder(volumesDir)).toEqual([]);
  });
});
