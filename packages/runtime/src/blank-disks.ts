import { randomBytes } from "node:crypto";
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "@burrow/core";
import type { CommandRunner } from "./command-runner.js";
import { createExt4Image } from "./ext4-image.js";

/** Ready images kept per size. */
const PER_SIZE = 2;
/** Sizes kept ready: the most recently asked for. */
const MAX_SIZES = 3;
const READY = /^(\d+)-[0-9a-f]{16}\.img$/;

/**
 * Formatted, empty sandbox disk images made ahead of time, so creating a sandbox (or restoring one
 * as new, or forking) takes one by a rename instead of running mkfs on its path. Kept in one
 * directory beside the sandboxes' (same file system, so the rename is atomic); an image is written
 * as `.tmp` and renamed when mkfs is done, so a kill mid-mkfs leaves only a `.tmp` that the next
 * start removes. Images are sparse: an empty 10 GiB one holds ~4 MB.
 */
export class BlankDiskPool {
  private readonly ready = new Map<number, string[]>();
  /** Sizes to keep ready, most recent last. */
  private wanted: number[];
  private filling: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly runner: CommandRunner,
    private readonly dir: string,
    private readonly logger: Logger,
    initialSizesMb: number[],
  ) {
    this.wanted = initialSizesMb.slice(-MAX_SIZES);
  }

  /** Removes half-made images, takes stock of ready ones, and starts filling in the background. */
  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (const name of await readdir(this.dir)) {
      const m = READY.exec(name);
      if (m === null) {
        await rm(join(this.dir, name), { force: true, recursive: true });
        continue;
      }
      const size = Number(m[1]);
      this.ready.set(size, [...(this.ready.get(size) ?? []), join(this.dir, name)]);
    }
    this.fill();
  }

  /**
   * Moves a ready image of `sizeMb` MiB to `dest`; false when none is ready (the caller makes
   * one). Either way the size is kept ready from now on.
   */
  async take(sizeMb: number, dest: string): Promise<boolean> {
    this.wanted = [...this.wanted.filter((s) => s !== sizeMb), sizeMb].slice(-MAX_SIZES);
    const path = this.ready.get(sizeMb)?.pop();
    this.fill();
    if (path === undefined) return false;
    try {
      await rename(path, dest);
      return true;
    } catch (err) {
      this.logger.warn({ err: String(err) }, "a ready disk image could not be moved; making one");
      await rm(path, { force: true });
      return false;
    }
  }

  /** Resolves once no image is being made (tests). */
  async settled(): Promise<void> {
    await this.filling;
  }

  /** Stops making images and waits for the one being made. */
  async close(): Promise<void> {
    this.closed = true;
    await this.filling;
  }

  private fill(): void {
    if (this.filling || this.closed) return;
    this.filling = this.fillAll()
      .catch((err: unknown) => this.logger.warn({ err: String(err) }, "making ready disk images failed"))
      .finally(() => {
        this.filling = undefined;
      });
  }

  private async fillAll(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (;;) {
      const size = this.wanted.find((s) => (this.ready.get(s)?.length ?? 0) < PER_SIZE);
      if (size === undefined || this.closed) return;
      const name = `${size}-${randomBytes(8).toString("hex")}.img`;
      const tmp = join(this.dir, `${name}.tmp`);
      try {
        await createExt4Image(this.runner, tmp, size);
        await rename(tmp, join(this.dir, name));
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
      this.ready.set(size, [...(this.ready.get(size) ?? []), join(this.dir, name)]);
      // Sizes no longer wanted give their images back.
      for (const [s, paths] of this.ready) {
        if (this.wanted.includes(s)) continue;
        this.ready.delete(s);
        for (const p of paths) await rm(p, { force: true });
      }
    }
  }
}
