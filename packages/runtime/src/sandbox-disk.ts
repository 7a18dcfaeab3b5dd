import { existsSync } from "node:fs";
import { mkdir, rename, stat } from "node:fs/promises";
import { join } from "node:path";
import { BurrowError, ErrorCode } from "@burrow/core";
import type { BlankDiskPool } from "./blank-disks.js";
import type { CommandRunner } from "./command-runner.js";
import {
  createExt4Image,
  type FsUsage,
  fsUsage,
  growExt4ImageOffline,
  growExt4ImageOnline,
  mountExt4Image,
  mountedSource,
} from "./ext4-image.js";
import { removeTree } from "./layers/safe-fs.js";
import { MOUNT_TIMEOUT_MS } from "./sandbox-rootfs.js";

/**
 * A sandbox's disk: its own files (the overlay's upper and work dirs) on a sparse ext4 image of
 * the sandbox's `diskMb`, so a sandbox that fills it gets ENOSPC while the host and other
 * sandboxes are unaffected.
 *
 * Layout under the sandbox dir: `disk.img` (the image), `disk/` (where it is mounted, holding
 * `upper/` and `work/`), and `upper/`, a bind mount of `disk/upper`, so `<dir>/upper` shows the
 * sandbox's files at the same path whether or not it has a disk. Sandboxes created before disk
 * limits (no `disk.img`) keep their upper and work dirs directly in the sandbox dir.
 */

const IMAGE_FILE = "disk.img";
const MOUNT_DIR = "disk";

export function hasDisk(sandboxDir: string): boolean {
  return existsSync(join(sandboxDir, IMAGE_FILE));
}

/** The overlay's upper and work dirs of the sandbox in `sandboxDir`. */
export function overlayDirs(sandboxDir: string): { upper: string; work: string } {
  if (!hasDisk(sandboxDir)) return { upper: join(sandboxDir, "upper"), work: join(sandboxDir, "work") };
  return { upper: join(sandboxDir, MOUNT_DIR, "upper"), work: join(sandboxDir, MOUNT_DIR, "work") };
}

async function run(runner: CommandRunner, argv: string[], what: string): Promise<void> {
  const result = await runner.run(argv, { timeoutMs: MOUNT_TIMEOUT_MS });
  if (result.exitCode !== 0) {
    throw new BurrowError(ErrorCode.RuntimeFailed, `${what} failed: ${result.stderr.trim()}`);
  }
}

/** The size of the sandbox's disk in MiB; 0 for a sandbox without one. */
export async function sandboxDiskSizeMb(sandboxDir: string): Promise<number> {
  if (!hasDisk(sandboxDir)) return 0;
  return (await stat(join(sandboxDir, IMAGE_FILE))).size / (1024 * 1024);
}

/** Creates (or takes a ready one from `pool`) and mounts a `sizeMb` MiB disk for a new sandbox. */
export async function createSandboxDisk(
  runner: CommandRunner,
  sandboxDir: string,
  sizeMb: number,
  pool?: BlankDiskPool,
): Promise<void> {
  const image = join(sandboxDir, IMAGE_FILE);
  if (!(await pool?.take(sizeMb, image))) await createExt4Image(runner, image, sizeMb);
  await mountSandboxDisk(runner, sandboxDir);
}

/**
 * Mounts the sandbox's disk and binds its upper dir at `<dir>/upper` unless they are mounted
 * (after a host reboot they are not). No-op for a sandbox without a disk.
 */
export async function mountSandboxDisk(runner: CommandRunner, sandboxDir: string): Promise<void> {
  if (!hasDisk(sandboxDir)) return;
  const mountpoint = join(sandboxDir, MOUNT_DIR);
  await mkdir(mountpoint, { recursive: true });
  await mountExt4Image(runner, join(sandboxDir, IMAGE_FILE), mountpoint);
  const { upper, work } = overlayDirs(sandboxDir);
  await mkdir(upper, { recursive: true, mode: 0o755 });
  await mkdir(work, { recursive: true });
  await bindUpper(runner, sandboxDir);
}

async function bindUpper(runner: CommandRunner, sandboxDir: string): Promise<void> {
  const alias = join(sandboxDir, "upper");
  await mkdir(alias, { recursive: true });
  if ((await mountedSource(alias)) !== undefined) return;
  await run(runner, ["mount", "--bind", overlayDirs(sandboxDir).upper, alias], "binding the sandbox's upper dir");
}

async function unmount(runner: CommandRunner, path: string): Promise<void> {
  if ((await mountedSource(path)) === undefined) return;
  const result = await runner.run(["umount", path], { timeoutMs: MOUNT_TIMEOUT_MS });
  // A busy mount is detached lazily so the directory can still be removed.
  if (result.exitCode !== 0) await runner.run(["umount", "-l", path], { timeoutMs: MOUNT_TIMEOUT_MS });
}

/**
 * Unmounts `path` for real (no lazy detach): a probe of a new loop device (udev, blkid) can hold it
 * busy for a moment, so a busy unmount is retried for up to ~2 s before it fails.
 */
async function unmountNow(runner: CommandRunner, path: string): Promise<void> {
  for (let attempt = 0; (await mountedSource(path)) !== undefined; attempt++) {
    const result = await runner.run(["umount", path], { timeoutMs: MOUNT_TIMEOUT_MS });
    if (result.exitCode === 0) continue;
    if (attempt >= 40) {
      throw new BurrowError(ErrorCode.Conflict, `the sandbox's disk is busy, try again: ${result.stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Unmounts the upper dir's bind and the disk (its loop device goes with it). */
export async function unmountSandboxDisk(runner: CommandRunner, sandboxDir: string): Promise<void> {
  await unmount(runner, join(sandboxDir, "upper"));
  await unmount(runner, join(sandboxDir, MOUNT_DIR));
}

/**
 * Empties the disk's upper and work dirs of a sandbox whose overlay is unmounted, first copying
 * the upper dir's files to `saveTo` (a new directory) when given.
 */
export async function clearDiskUpper(runner: CommandRunner, sandboxDir: string, saveTo?: string): Promise<void> {
  const { upper, work } = overlayDirs(sandboxDir);
  if (saveTo !== undefined) {
    await mkdir(saveTo);
    await run(runner, ["cp", "-a", "--reflink=auto", `${upper}/.`, saveTo], "copying the sandbox's files");
  }
  await unmount(runner, join(sandboxDir, "upper"));
  await removeTree(upper);
  await removeTree(work);
  await mkdir(upper, { mode: 0o755 });
  await mkdir(work);
  await bindUpper(runner, sandboxDir);
}

/** Where a restore stages the next upper dir of a sandbox with a disk: on the disk, beside its upper dir. */
export function diskStagingDir(sandboxDir: string): string {
  return join(sandboxDir, MOUNT_DIR, "upper.restore");
}

/**
 * Makes the staged upper dir (diskStagingDir) the sandbox's upper dir, by renames on the disk (no
 * copy), with a fresh work dir; the old upper dir is removed. The overlay must be unmounted.
 */
export async function swapDiskUpper(runner: CommandRunner, sandboxDir: string): Promise<void> {
  const { upper, work } = overlayDirs(sandboxDir);
  const old = join(sandboxDir, MOUNT_DIR, `upper.old-${Date.now()}`);
  await unmount(runner, join(sandboxDir, "upper"));
  await rename(upper, old);
  await rename(diskStagingDir(sandboxDir), upper);
  await removeTree(work);
  await mkdir(work);
  await bindUpper(runner, sandboxDir);
  await removeTree(old);
}

/** Bytes of the files under `dir` (`du`, hard links once). */
async function treeBytes(runner: CommandRunner, dir: string): Promise<number> {
  const du = await runner.run(["du", "-s", "-B1", dir], { timeoutMs: MOUNT_TIMEOUT_MS * 6 });
  return du.exitCode === 0 ? Number.parseInt(du.stdout, 10) || 0 : 0;
}

/**
 * Waits (up to ~5 s) until the disk has room for `bytes`: files deleted from it are freed only
 * once the last process holding them open is gone, and a stopped sandbox's gofer can still be
 * exiting when its files are cleared.
 */
async function waitForRoom(sandboxDir: string, bytes: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const { usedBytes, totalBytes } = await fsUsage(join(sandboxDir, MOUNT_DIR));
    if (totalBytes - usedBytes >= bytes) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Copies `source`'s files into the (empty) upper dir of the sandbox's disk. */
export async function fillDiskUpper(runner: CommandRunner, sandboxDir: string, source: string): Promise<void> {
  await waitForRoom(sandboxDir, await treeBytes(runner, source));
  const copy = await runner.run(["cp", "-a", "--reflink=auto", `${source}/.`, overlayDirs(sandboxDir).upper], {
    timeoutMs: MOUNT_TIMEOUT_MS * 6,
  });
  if (copy.exitCode !== 0) {
    const full = /No space left/i.test(copy.stderr);
    throw new BurrowError(
      full ? ErrorCode.ValidationFailed : ErrorCode.RuntimeFailed,
      full
        ? "the files do not fit the sandbox's disk: give it a larger resources.diskMb"
        : `copying files onto the sandbox's disk failed: ${copy.stderr.trim()}`,
    );
  }
}

/**
 * Grows a sandbox's disk to `sizeMb` MiB: in place while its processes run (`running`), else
 * unmounted and grown offline (the overlay must be unmounted; it is mounted again at the next start),
 * then mounted again so `<dir>/upper` shows its files.
 */
export async function growSandboxDisk(
  runner: CommandRunner,
  sandboxDir: string,
  sizeMb: number,
  running: boolean,
): Promise<void> {
  const image = join(sandboxDir, IMAGE_FILE);
  if (running) {
    await mountSandboxDisk(runner, sandboxDir);
    return growExt4ImageOnline(runner, image, join(sandboxDir, MOUNT_DIR), sizeMb);
  }
  // Offline means unmounted for real: a lazily detached file system would still write to the image.
  await unmountNow(runner, join(sandboxDir, "upper"));
  await unmountNow(runner, join(sandboxDir, MOUNT_DIR));
  await waitDetached(runner, image);
  try {
    await growExt4ImageOffline(runner, image, sizeMb);
  } finally {
    await mountSandboxDisk(runner, sandboxDir);
  }
  const usage = await fsUsage(join(sandboxDir, MOUNT_DIR));
  if (usage.totalBytes < sizeMb * 1024 * 1024 * 0.9) {
    throw new BurrowError(
      ErrorCode.RuntimeFailed,
      `the sandbox's disk was grown to ${sizeMb} MiB but mounts with ${Math.round(usage.totalBytes / (1024 * 1024))} MiB`,
    );
  }
}

/** Waits (up to ~2 s) until no loop device holds the image: its autoclear after unmount can lag. */
async function waitDetached(runner: CommandRunner, image: string): Promise<void> {
  for (let attempt = 0; attempt < 40; attempt++) {
    const attached = await runner.run(["losetup", "-j", image], { timeoutMs: MOUNT_TIMEOUT_MS });
    if (attached.exitCode !== 0 || attached.stdout.trim() === "") return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new BurrowError(ErrorCode.Conflict, "the sandbox's disk is still attached to a loop device, try again");
}

/** Used and total bytes of the sandbox's disk, or undefined for a sandbox without one (or not mounted). */
export async function sandboxDiskUsage(sandboxDir: string): Promise<FsUsage | undefined> {
  const mountpoint = join(sandboxDir, MOUNT_DIR);
  if (!hasDisk(sandboxDir) || (await mountedSource(mountpoint)) === undefined) return undefined;
  return fsUsage(mountpoint);
}
