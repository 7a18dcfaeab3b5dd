import { open, readFile, stat, statfs } from "node:fs/promises";
import { BurrowError, ErrorCode } from "@burrow/core";
import type { CommandRunner } from "./command-runner.js";

/**
 * A bounded file system in one sparse file: an ext4 image, loop-mounted. Writes past its size get
 * ENOSPC inside it while the host file system is untouched; the file takes only the blocks written
 * (an empty 10 GiB image holds ~4 MB). Used for sandbox disks; volumes can use it the same way.
 */

const MIB = 1024 * 1024;
const IMAGE_TIMEOUT_MS = 30_000;

async function must(runner: CommandRunner, argv: string[], what: string): Promise<string> {
  const result = await runner.run(argv, { timeoutMs: IMAGE_TIMEOUT_MS });
  if (result.exitCode !== 0 || result.timedOut) {
    throw new BurrowError(
      ErrorCode.RuntimeFailed,
      `${what} failed${result.timedOut ? " (timed out)" : ""}: ${result.stderr.trim()}`,
      { details: { argv, exitCode: result.exitCode } },
    );
  }
  return result.stdout;
}

async function setSize(path: string, sizeMb: number): Promise<void> {
  const handle = await open(path, "a");
  try {
    await handle.truncate(sizeMb * MIB);
  } finally {
    await handle.close();
  }
}

/**
 * Creates `path` as a sparse ext4 image of `sizeMb` MiB: no journal (a sandbox's files are not
 * worth 64 MB of journal per image, and mkfs is faster without it) and no reserved blocks, so the
 * whole size is usable.
 */
export async function createExt4Image(runner: CommandRunner, path: string, sizeMb: number): Promise<void> {
  await setSize(path, sizeMb);
  await must(runner, ["mkfs.ext4", "-q", "-F", "-O", "^has_journal", "-m", "0", "-E", "nodiscard", path], "mkfs.ext4");
}

/** /proc/mounts' octal escapes (`\040` for a space) undone. */
const unescapeMountField = (field: string) =>
  field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));

/** Every mount of this host: its source and where it is mounted. */
export async function readMounts(): Promise<Array<{ source: string; target: string }>> {
  const text = await readFile("/proc/mounts", "utf8");
  return text
    .split("\n")
    .map((line) => line.split(" "))
    .filter((fields) => (fields[1] ?? "") !== "")
    .map(([source = "", target = ""]) => ({ source: unescapeMountField(source), target: unescapeMountField(target) }));
}

/** The device mounted at `mountpoint` (a loop device for an image), or undefined when none is. */
export async function mountedSource(mountpoint: string): Promise<string | undefined> {
  return (await readMounts()).find((m) => m.target === mountpoint)?.source;
}

/** Loop-mounts the image at `mountpoint` unless something is mounted there already. */
export async function mountExt4Image(runner: CommandRunner, path: string, mountpoint: string): Promise<void> {
  if ((await mountedSource(mountpoint)) !== undefined) return;
  await must(runner, ["mount", "-t", "ext4", "-o", "loop,noatime", path, mountpoint], "mounting the disk image");
}

/** Whether the image is smaller than `sizeMb` MiB; a larger size is refused (images never shrink). */
async function needsGrowth(path: string, sizeMb: number): Promise<boolean> {
  const bytes = (await stat(path)).size;
  if (sizeMb * MIB < bytes) {
    throw new BurrowError(ErrorCode.ValidationFailed, `a disk can grow but not shrink (it has ${bytes / MIB} MiB)`, {
      details: { currentMb: bytes / MIB, requestedMb: sizeMb },
    });
  }
  return sizeMb * MIB > bytes;
}

/**
 * Grows a mounted image to `sizeMb` MiB while it is in use: the file first, then the loop device's
 * idea of its size, then the file system (ext4 grows online). The kernel allows an online grow
 * only to a caller with CAP_SYS_RESOURCE; without it the image keeps its size and a 409 says so.
 */
export async function growExt4ImageOnline(
  runner: CommandRunner,
  path: string,
  mountpoint: string,
  sizeMb: number,
): Promise<void> {
  const device = await mountedSource(mountpoint);
  if (device === undefined || !device.startsWith("/dev/loop")) {
    throw new BurrowError(ErrorCode.RuntimeFailed, `the disk image ${path} is not mounted`);
  }
  if (!(await needsGrowth(path, sizeMb))) return;
  const before = (await stat(path)).size;
  await setSize(path, sizeMb);
  await must(runner, ["losetup", "-c", device], "resizing the loop device");
  const grown = await runner.run(["resize2fs", device], { timeoutMs: IMAGE_TIMEOUT_MS });
  if (grown.exitCode === 0) return;
  // The file system kept its size: so does the file, and the loop device follows it.
  await setSize(path, before / MIB);
  await runner.run(["losetup", "-c", device], { timeoutMs: IMAGE_TIMEOUT_MS });
  if (/Permission denied/i.test(grown.stderr)) {
    throw new BurrowError(
      ErrorCode.Conflict,
      "this host cannot grow a disk in use (the server lacks CAP_SYS_RESOURCE): hibernate the sandbox, then change diskMb",
    );
  }
  throw new BurrowError(ErrorCode.RuntimeFailed, `growing the file system failed: ${grown.stderr.trim()}`);
}

/** Grows an image that is not mounted to `sizeMb` MiB (checked first, as resize2fs requires). */
export async function growExt4ImageOffline(runner: CommandRunner, path: string, sizeMb: number): Promise<void> {
  if (!(await needsGrowth(path, sizeMb))) return;
  const check = await runner.run(["e2fsck", "-f", "-p", path], { timeoutMs: IMAGE_TIMEOUT_MS * 4 });
  // 0: clean; 1: errors corrected.
  if (check.exitCode > 1) {
    throw new BurrowError(ErrorCode.RuntimeFailed, `checking the disk image failed: ${check.stderr.trim()}`);
  }
  await setSize(path, sizeMb);
  await must(runner, ["resize2fs", path], "growing the file system");
}

export interface FsUsage {
  usedBytes: number;
  totalBytes: number;
}

/** Used and total bytes of the file system mounted at `mountpoint`. */
export async function fsUsage(mountpoint: string): Promise<FsUsage> {
  const st = await statfs(mountpoint);
  return { usedBytes: (st.blocks - st.bfree) * st.bsize, totalBytes: st.blocks * st.bsize };
}
