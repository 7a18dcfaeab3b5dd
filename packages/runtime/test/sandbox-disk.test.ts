import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { mountedSource } from "../src/ext4-image.js";
import {
  clearDiskUpper,
  createSandboxDisk,
  growSandboxDisk,
  overlayDirs,
  sandboxDiskSizeMb,
  sandboxDiskUsage,
  unmountSandboxDisk,
} from "../src/sandbox-disk.js";
import { SpawnRunner } from "../src/spawn-runner.js";

const MIB = 1024 * 1024;
const root = process.getuid?.() === 0;

function writeMb(path: string, mb: number): "ok" | string {
  try {
    writeFileSync(path, Buffer.alloc(mb * MIB, 1));
    return "ok";
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

// Issue 16, item 3: a sandbox's files on a bounded ext4 image (real loop mounts; needs root).
describe.skipIf(!root)("sandbox disk images", () => {
  it("bounds writes at the size, grows offline, clears and saves the upper dir, unmounts everything", async () => {
    const runner = new SpawnRunner();
    const dir = mkdtempSync("/tmp/burrow-disk-");
    mkdirSync(join(dir, "saved-parent"));
    try {
      await createSandboxDisk(runner, dir, 64);
      const { upper } = overlayDirs(dir);
      expect(upper).toBe(join(dir, "disk", "upper"));
      expect(await mountedSource(join(dir, "upper"))).toMatch(/^\/dev\/loop/);
      // <dir>/upper shows the disk's upper dir.
      writeFileSync(join(upper, "a.txt"), "a\n");
      expect(readFileSync(join(dir, "upper", "a.txt"), "utf8")).toBe("a\n");
      expect(writeMb(join(dir, "upper", "big"), 100)).toBe("ENOSPC");
      rmSync(join(dir, "upper", "big"), { force: true });

      await growSandboxDisk(runner, dir, 160, false);
      expect(await sandboxDiskSizeMb(dir)).toBe(160);
      expect(readFileSync(join(dir, "upper", "a.txt"), "utf8")).toBe("a\n");
      expect(writeMb(join(dir, "upper", "big"), 100)).toBe("ok");
      const usage = await sandboxDiskUsage(dir);
      expect(usage?.totalBytes).toBeGreaterThan(140 * MIB);
      expect(usage?.usedBytes).toBeGreaterThan(100 * MIB);
      await expect(growSandboxDisk(runner, dir, 100, false)).rejects.toMatchObject({ code: "validation_failed" });

      const saved = join(dir, "saved-parent", "layer");
      await clearDiskUpper(runner, dir, saved);
      expect(readFileSync(join(saved, "a.txt"), "utf8")).toBe("a\n");
      expect(existsSync(join(dir, "upper", "a.txt"))).toBe(false);
      expect(await mountedSource(join(dir, "upper"))).toMatch(/^\/dev\/loop/);
    } finally {
      await unmountSandboxDisk(runner, dir);
      expect(await mountedSource(join(dir, "upper"))).toBeUndefined();
      expect(await mountedSource(join(dir, "disk"))).toBeUndefined();
      rmSync(dir, { recursive: true, force: true });
      await runner.close();
    }
  }, 60_000);
});
