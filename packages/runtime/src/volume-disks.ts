import { chmod, mkdir, open, readdir, statfs } from "node:fs/promises";
import { join } from "node:path";
import { BurrowError, ErrorCode } from "@burrow/core";
import type { CommandRunner } from "./command-runner.js";
import { readMounts } from "./ext4-image.js";
import { removeTree } from "./layers/safe-fs.js";
import { MOUNT_TIMEOUT_MS } from "./sandbox-rootfs.js";

/** Volume ids: "vol_" + 20 lowercase base32 characters. */
export const VOLUME_ID_PATTERN = /^vol_[a-z2-7]{20}$/;

const MKFS_TIMEOUT_MS = 120_000;

/** Bytes in use and in all on a mounted volume's file system. */
export interface VolumeUsage {
  usedBytes: number;
  totalBytes: number;
}

/**
 * The host side of volumes: each volume is a file system of its own, mounted on the host while
 * the server runs, whose `root` folder is what sandboxes (bind mounts) and the files API see.
 */
export interface VolumeDisks {
  /** Makes a new volume's storage with a size limit of `sizeBytes`, mounted. */
  create(id: string, sizeBytes: number): Promise<void>;
  /** Mounts the volume on the host (no-op when mounted) and returns the host folder of its root. */
  mount(id: string): Promise<string>;
  /** The host folder of a volume's root (a sandbox's bind-mount source); present only while mounted. */
  rootOf(id: string): string;
  usage(id: string): Promise<VolumeUsage | undefined>;
  /** Unmounts the volume and removes its storage. Idempotent. */
  remove(id: string): Promise<void>;
  /** Unmounts every volume (server stop); sandboxes still running keep their own mounts. */
  unmountAll(): Promise<string[]>;
  /** Removes the storage, mounts and loop devices of volumes not in `live`; returns a line per thing removed. */
  reap(live: ReadonlySet<string>): Promise<string[]>;
}

/** Mount points in /proc/mounts (octal escapes decoded). */
export async function mountPoints(): Promise<string[]> {
  return (await readMounts()).map((m) => m.target);
}

async function volumeIds(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => VOLUME_ID_PATTERN.test(n));
  } catch {
    return [];
  }
}

/**
 * Volumes as sparse ext4 image files (`<dir>/<id>/disk.img`, the size limit as the file system's
 * size, so every writer gets ENOSPC at the limit and the host disk is never filled past it),
 * loop-mounted at `<dir>/<id>/mnt` with nosuid,nodev. The volume's root is the folder `root` on
 * that file system: while the volume is not mounted that path does not exist, so a sandbox can
 * never start on the empty mount point instead of the volume.
 */
export class LoopVolumeDisks implements VolumeDisks {
  constructor(
    private readonly dir: string,
    private readonly runner: CommandRunner,
  ) {}

  private paths(id: string) {
    if (!VOLUME_ID_PATTERN.test(id)) throw new BurrowError(ErrorCode.BadRequest, `not a volume id: ${id}`);
    const base = join(this.dir, id);
    return { base, image: join(base, "disk.img"), mnt: join(base, "mnt") };
  }

  rootOf(id: string): string {
    return join(this.paths(id).mnt, "root");
  }

  private async run(argv: string[], what: string, timeoutMs = MOUNT_TIMEOUT_MS): Promise<void> {
    const result = await this.runner.run(argv, { timeoutMs });
    if (result.exitCode !== 0 || result.timedOut) {
      throw new BurrowError(
        ErrorCode.RuntimeFailed,
        `${what} failed: ${result.stderr.trim() || `exit ${result.exitCode}`}`,
        {
          details: { exitCode: result.exitCode },
        },
      );
    }
  }

  async create(id: string, sizeBytes: number): Promise<void> {
    const { base, image, mnt } = this.paths(id);
    await mkdir(mnt, { recursive: true });
    try {
      const fh = await open(image, "wx", 0o600);
      try {
        await fh.truncate(sizeBytes);
      } finally {
        await fh.close();
      }
      // No reserved blocks (sandboxes write as root anyway); lazy init keeps the image sparse.
      await this.run(
        ["mkfs.ext4", "-q", "-F", "-m", "0", "-E", "lazy_itable_init=1,lazy_journal_init=1,root_owner=0:0", image],
        "formatting the volume",
        MKFS_TIMEOUT_MS,
      );
      await this.mountImage(image, mnt);
      const root = join(mnt, "root");
      await mkdir(root);
      // Every user in every sandbox may write (the template's user is not root).
      await chmod(root, 0o777);
    } catch (err) {
      await this.remove(id).catch(() => undefined);
      await removeTree(base).catch(() => undefined);
      throw err;
    }
  }

  private async mountImage(image: string, mnt: string): Promise<void> {
    await this.run(["mount", "-t", "ext4", "-o", "loop,nosuid,nodev,noatime", image, mnt], "mounting the volume");
  }

  async mount(id: string): Promise<string> {
    const { image, mnt } = this.paths(id);
    if (!(await mountPoints()).includes(mnt)) await this.mountImage(image, mnt);
    return this.rootOf(id);
  }

  async usage(id: string): Promise<VolumeUsage | undefined> {
    const { mnt } = this.paths(id);
    if (!(await mountPoints()).includes(mnt)) return undefined;
    const s = await statfs(mnt);
    return { usedBytes: (s.blocks - s.bfree) * s.bsize, totalBytes: s.blocks * s.bsize };
  }

  private async unmount(mnt: string): Promise<void> {
    const result = await this.runner.run(["umount", mnt], { timeoutMs: MOUNT_TIMEOUT_MS });
    if (result.exitCode !== 0 && !/not mounted|no mount point|No such file/i.test(result.stderr)) {
      // Busy (a files-API download still reading): detached now, freed when the last file closes.
      await this.run(["umount", "-l", mnt], "unmounting the volume");
    }
  }

  async remove(id: string): Promise<void> {
    const { base, mnt } = this.paths(id);
    while ((await mountPoints()).includes(mnt)) await this.unmount(mnt);
    await removeTree(base);
  }

  async unmountAll(): Promise<string[]> {
    const prefix = `${this.dir}/`;
    const done: string[] = [];
    for (const m of await mountPoints()) {
      if (!m.startsWith(prefix)) continue;
      await this.unmount(m);
      done.push(m);
    }
    return done;
  }

  async reap(live: ReadonlySet<string>): Promise<string[]> {
    const reaped: string[] = [];
    const prefix = `${this.dir}/`;
    for (const m of await mountPoints()) {
      if (!m.startsWith(prefix)) continue;
      const id = m.slice(prefix.length).split("/")[0] ?? "";
      if (live.has(id) && m === this.paths(id).mnt) continue;
      await this.unmount(m);
      reaped.push(`volume mount ${m}`);
    }
    for (const loop of await this.loopDevices()) {
      const id = loop.backFile.slice(prefix.length).split("/")[0] ?? "";
      if (live.has(id)) continue;
      // Lazy in the kernel: a device a running sandbox still holds goes when that sandbox does.
      await this.runner.run(["losetup", "-d", loop.name], { timeoutMs: MOUNT_TIMEOUT_MS });
      reaped.push(`loop device ${loop.name} (${loop.backFile})`);
    }
    for (const id of await volumeIds(this.dir)) {
      if (live.has(id)) continue;
      await removeTree(join(this.dir, id));
      reaped.push(`volume ${id}`);
    }
    return reaped;
  }

  /** Loop devices whose backing file is under this server's volumes folder. */
  private async loopDevices(): Promise<Array<{ name: string; backFile: string }>> {
    const result = await this.runner.run(["losetup", "--list", "--noheadings", "--raw", "-O", "NAME,BACK-FILE"], {
      timeoutMs: MOUNT_TIMEOUT_MS,
    });
    if (result.exitCode !== 0) return [];
    const prefix = `${this.dir}/`;
    const out: Array<{ name: string; backFile: string }> = [];
    for (const line of result.stdout.split("\n")) {
      const space = line.indexOf(" ");
      if (space < 0) continue;
      const backFile = line
        .slice(space + 1)
        .replace(/\\x([0-9a-f]{2})/gi, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
      if (backFile.startsWith(prefix)) out.push({ name: line.slice(0, space), backFile });
    }
    return out;
  }
}

/**
 * Volumes as plain folders (`<dir>/<id>/root`), for the fake runtime: no size limit, nothing
 * mounted. Component tests of the API and the files routes run on it.
 */
export class DirVolumeDisks implements VolumeDisks {
  constructor(private readonly dir: string) {}

  rootOf(id: string): string {
    if (!VOLUME_ID_PATTERN.test(id)) throw new BurrowError(ErrorCode.BadRequest, `not a volume id: ${id}`);
    return join(this.dir, id, "root");
  }

  async create(id: string): Promise<void> {
    await mkdir(this.rootOf(id), { recursive: true });
  }

  async mount(id: string): Promise<string> {
    return this.rootOf(id);
  }

  async usage(): Promise<VolumeUsage | undefined> {
    return undefined;
  }

  async remove(id: string): Promise<void> {
    await removeTree(join(this.dir, id));
  }

  async unmountAll(): Promise<string[]> {
    return [];
  }

  async reap(live: ReadonlySet<string>): Promise<string[]> {
    const reaped: string[] = [];
    for (const id of await volumeIds(this.dir)) {
      if (live.has(id)) continue;
      await removeTree(join(this.dir, id));
      reaped.push(`volume ${id}`);
    }
    return reaped;
  }
}
