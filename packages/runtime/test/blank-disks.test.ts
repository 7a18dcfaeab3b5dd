import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { silentLogger } from "@burrow/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BlankDiskPool } from "../src/blank-disks.js";
import { SpawnRunner } from "../src/spawn-runner.js";

const uuidOf = (image: string) =>
  execFileSync("blkid", ["-s", "UUID", "-o", "value", image], { encoding: "utf8" }).trim();
const typeOf = (image: string) =>
  execFileSync("blkid", ["-s", "TYPE", "-o", "value", image], { encoding: "utf8" }).trim();

// Ready-made disk images: real mkfs.ext4 on sparse files in a temp dir.
describe("BlankDiskPool", () => {
  let dir: string;
  let pool: BlankDiskPool | undefined;
  beforeEach(() => {
    dir = mkdtempSync("/tmp/bblank-");
  });
  afterEach(async () => {
    await pool?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps two images of a size ready; each taken one is a distinct ext4 file system, and is replaced", async () => {
    pool = new BlankDiskPool(new SpawnRunner(), join(dir, "pool"), silentLogger, [64]);
    await pool.init();
    await pool.settled();
    expect(readdirSync(join(dir, "pool")).filter((n) => n.startsWith("64-"))).toHaveLength(2);
    const a = join(dir, "a.img");
    const b = join(dir, "b.img");
    expect(await pool.take(64, a)).toBe(true);
    expect(await pool.take(64, b)).toBe(true);
    expect(typeOf(a)).toBe("ext4");
    expect(uuidOf(a)).not.toBe(uuidOf(b));
    await pool.settled();
    expect(readdirSync(join(dir, "pool")).filter((n) => n.startsWith("64-"))).toHaveLength(2);
  });

  it("answers false for a size it has none of, then keeps that size ready too", async () => {
    pool = new BlankDiskPool(new SpawnRunner(), join(dir, "pool"), silentLogger, [64]);
    await pool.init();
    expect(await pool.take(32, join(dir, "c.img"))).toBe(false);
    await pool.settled();
    expect(readdirSync(join(dir, "pool")).filter((n) => n.startsWith("32-"))).toHaveLength(2);
    expect(await pool.take(32, join(dir, "c.img"))).toBe(true);
  });

  it("removes half-made images at start and keeps finished ones", async () => {
    mkdirSync(join(dir, "pool"));
    writeFileSync(join(dir, "pool", "64-0123456789abcdef.img.tmp"), "partial");
    const first = new BlankDiskPool(new SpawnRunner(), join(dir, "pool"), silentLogger, [64]);
    await first.init();
    await first.close();
    const made = readdirSync(join(dir, "pool"));
    expect(made.some((n) => n.endsWith(".tmp"))).toBe(false);
    pool = new BlankDiskPool(new SpawnRunner(), join(dir, "pool"), silentLogger, [64]);
    await pool.init();
    // The images the first pool finished are taken without making new ones first.
    expect(await pool.take(64, join(dir, "d.img"))).toBe(made.length > 0);
  });
});
