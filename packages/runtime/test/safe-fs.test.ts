import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { mkdir, readFile, rename, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  DirCursor,
  fdPath,
  lstatBeneath,
  openBeneath,
  openDirectory,
  readFileBeneath,
  readlinkBeneath,
  removeTree,
  splitRelative,
  walkTree,
} from "../src/layers/safe-fs.js";
import { DEEP_TREE_DEPTH, deepChain } from "./deep-tree.js";
import { tempDirsPerTest } from "./temp-dirs.js";

const tempDir = tempDirsPerTest("burrow-safefs-");

const DEPTH = DEEP_TREE_DEPTH;

/** A layer with a file, plus a host directory outside it holding a secret. */
function layerAndSecret() {
  const root = tempDir();
  const outside = tempDir();
  writeFileSync(join(outside, "secret"), "HOST SECRET\n", { mode: 0o600 });
  mkdirSync(join(root, "a"));
  writeFileSync(join(root, "a", "ok"), "fine\n");
  return { root, outside };
}

describe("safe-fs", () => {
  it("accepts only plain relative paths", () => {
    expect(splitRelative("a/b")).toEqual(["a", "b"]);
    for (const bad of ["", "a/../b", "..", "./a", "a//b", "/a", "a/"]) expect(splitRelative(bad)).toBeNull();
  });

  it("reads files below the root and never through '..' or a symlink", async () => {
    const { root, outside } = layerAndSecret();
    symlinkSync(join(outside, "secret"), join(root, "link"));
    symlinkSync(outside, join(root, "dirlink"));
    symlinkSync("a", join(root, "inner")); // even a link that stays inside is not followed
    expect((await readFileBeneath(root, "a/ok"))?.toString()).toBe("fine\n");
    expect((await readFileBeneath(root, "a/ok", 100))?.toString()).toBe("fine\n");
    expect((await readFileBeneath(root, "a/ok", 2))?.toString()).toBe("fin"); // at most one byte past the limit
    expect(await readFileBeneath(root, "link")).toBeNull();
    expect(await readFileBeneath(root, "dirlink/secret")).toBeNull();
    expect(await readFileBeneath(root, "inner/ok")).toBeNull();
    expect(await readFileBeneath(root, `a/../../${outside.split("/").pop()}/secret`)).toBeNull();
    expect(await readFileBeneath(root, "a")).toBeNull();
    expect(await readFileBeneath(root, "missing")).toBeNull();
    expect(await lstatBeneath(root, "dirlink/secret")).toBeNull();
    expect((await lstatBeneath(root, "dirlink"))?.isSymbolicLink()).toBe(true);
    expect(await readlinkBeneath(root, "dirlink")).toBe(outside);
    expect(await openBeneath(root, "dirlink", "dir")).toBeNull();
  });

  it("a directory swapped for a link to a host directory mid-walk is not followed", async () => {
    const { root, outside } = layerAndSecret();
    // c and d change while b0 is being walked.
    for (let i = 0; i < 8; i++) await mkdir(join(root, `b${i}`));
    await mkdir(join(root, "c"));
    await writeFile(join(root, "c", "inside"), "x");
    await mkdir(join(root, "d"));
    let swapped: Promise<void> | undefined;
    const seen = await walkTree(root, {
      onDir: async (path) => {
        if (!path.startsWith("b")) return;
        // After the root was listed: c vanishes, d becomes a link to the host directory.
        swapped ??= (async () => {
          await rm(join(root, "c"), { recursive: true });
          await rename(join(root, "d"), join(root, "d-old"));
          await symlink(outside, join(root, "d"));
        })();
        await swapped;
      },
    });
    const paths = seen.map((e) => e.path);
    // c is gone; d is reported as the link it now is, and nothing below it is listed.
    expect(paths).toEqual(["a", "a/ok", ...Array.from({ length: 8 }, (_, i) => `b${i}`), "d"]);
    expect(seen[seen.length - 1]?.stat.isSymbolicLink()).toBe(true);
    expect(paths.some((p) => p.includes("secret"))).toBe(false);
  });

  it("walks, reads, recreates and removes a tree 2 100 levels deep", async () => {
    const root = tempDir();
    const deep = deepChain(root);
    const seen = await walkTree(root);
    expect(seen).toHaveLength(DEPTH + 1);
    expect(seen[seen.length - 1]?.path).toBe(deep);
    expect((await readFileBeneath(root, deep))?.toString()).toBe("deep\n");
    expect((await lstatBeneath(root, deep))?.isFile()).toBe(true);

    // Recreate it elsewhere through a DirCursor, as materialise does.
    const copy = tempDir();
    const top = await openDirectory(copy);
    const cursor = new DirCursor(top);
    try {
      for (const e of seen) {
        const { fd, name } = await cursor.parentOf(e.path);
        if (e.stat.isDirectory()) await mkdir(fdPath(fd, name));
        else await writeFile(fdPath(fd, name), "copied\n");
      }
      const { fd, name } = await cursor.parentOf(deep);
      expect(await readFile(fdPath(fd, name), "utf8")).toBe("copied\n");
    } finally {
      await cursor.close();
      await top.close();
    }

    // Node's own recursive rm fails at this depth; removeTree does not, whatever the modes.
    await expect(rm(join(copy, "d"), { recursive: true, force: true })).rejects.toThrow(/ENAMETOOLONG/);
    execFileSync("chmod", ["000", join(root, "d", "d")]);
    await removeTree(root);
    await removeTree(copy);
    expect(existsSync(root)).toBe(false);
    expect(existsSync(copy)).toBe(false);
  });

  it("removeTree does not follow a link out of the tree and refuses odd paths", async () => {
    const { root, outside } = layerAndSecret();
    symlinkSync(outside, join(root, "dirlink"));
    await removeTree(root);
    expect(existsSync(join(outside, "secret"))).toBe(true);
    await expect(removeTree("relative/path")).rejects.toThrow(/refusing/);
    await removeTree(join(root, "never-there"));
  });
});
