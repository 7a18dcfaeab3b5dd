import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildManifest, materialize } from "@burrow/runtime";
import { afterEach, describe, expect, it } from "vitest";
import { LocalBlobStore } from "../src/store/blob-store.js";

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "burrow-reuse-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const isRoot = process.getuid?.() === 0;

// Restore at the floor: files of the sandbox's upper dir still unchanged since the checkpoint
// are hard-linked into the restored upper dir instead of written from the blobs; anything
// changed since (in place too, or with its mtime put back) is written from the checkpoint.
describe("materialize with reuseFrom", () => {
  it.runIf(isRoot)(
    "links only files whose inode, ctime and size are the checkpoint's; the rest come from the blobs",
    async () => {
      const upper = tempDir();
      const blobs = new LocalBlobStore(tempDir());
      mkdirSync(join(upper, "home/user/sub"), { recursive: true });
      const files = ["same", "inplace", "forged", "replaced", "tolink", "sub/deep"];
      for (const f of files) writeFileSync(join(upper, "home/user", f), `checkpointed ${f}\n`);
      const { entries } = await buildManifest(upper, async (chunk) => blobs.put(chunk));
      const inoAt = (dir: string, f: string) => statSync(join(dir, "home/user", f)).ino;
      const before = Object.fromEntries(files.map((f) => [f, inoAt(upper, f)]));

      // After the checkpoint: an in-place write (same inode, same size), a changed file whose mtime
      // is put back, a file replaced by another, and one replaced by a symlink to an unchanged one.
      await new Promise((r) => setTimeout(r, 10));
      const fd = openSync(join(upper, "home/user/inplace"), "r+");
      writeSync(fd, "CHANGED", 0);
      closeSync(fd);
      const forged = join(upper, "home/user/forged");
      const { atime, mtime } = statSync(forged);
      writeFileSync(forged, "changed forged\n".padEnd(`checkpointed forged\n`.length, "!"));
      utimesSync(forged, atime, mtime);
      rmSync(join(upper, "home/user/replaced"));
      writeFileSync(join(upper, "home/user/replaced"), "new replaced\n");
      rmSync(join(upper, "home/user/tolink"));
      symlinkSync("same", join(upper, "home/user/tolink"));

      const restored = join(tempDir(), "upper.restore");
      const reused = await materialize(entries, restored, blobs, { reuseFrom: upper });
      for (const f of files) {
        expect(readFileSync(join(restored, "home/user", f), "utf8"), f).toBe(`checkpointed ${f}\n`);
        expect(statSync(join(restored, "home/user", f)).isFile()).toBe(true);
      }
      // Reused: the untouched files, the very inodes the sandbox had.
      expect(reused).toBe(2);
      expect(inoAt(restored, "same")).toBe(before.same);
      expect(inoAt(restored, "sub/deep")).toBe(before["sub/deep"]);
      // Written anew: nothing of the changed ones is shared with the old upper dir.
      for (const f of ["inplace", "forged", "replaced", "tolink"])
        expect(inoAt(restored, f), f).not.toBe(inoAt(upper, f));
      expect(statSync(join(restored, "home/user/inplace")).nlink).toBe(1);
    },
  );

  it.runIf(isRoot)("does not follow a directory the sandbox replaced by a symlink", async () => {
    const upper = tempDir();
    const outside = tempDir();
    const blobs = new LocalBlobStore(tempDir());
    mkdirSync(join(upper, "d"));
    writeFileSync(join(upper, "d/f"), "inside\n");
    const { entries } = await buildManifest(upper, async (chunk) => blobs.put(chunk));
    // The directory (its file's inode and ctime unchanged) ends up elsewhere and d points to it:
    // following the link would find a file that passes every check.
    renameSync(join(upper, "d"), join(outside, "d"));
    symlinkSync(join(outside, "d"), join(upper, "d"));
    const restored = join(tempDir(), "upper.restore");
    expect(await materialize(entries, restored, blobs, { reuseFrom: upper })).toBe(0);
    expect(readFileSync(join(restored, "d/f"), "utf8")).toBe("inside\n");
    expect(statSync(join(restored, "d/f")).ino).not.toBe(statSync(join(outside, "d/f")).ino);
  });
});
