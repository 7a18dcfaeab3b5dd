import { closeSync, mkdirSync, openSync, writeFileSync } from "node:fs";

/** Levels of a tree deeper than any path the kernel takes (PATH_MAX 4096) can name. */
export const DEEP_TREE_DEPTH = 2100;

/**
 * A chain of DEEP_TREE_DEPTH directories named `d` below `root` with a file `f` at the bottom,
 * made fd-relative as a sandbox could; returns the file's path relative to `root`.
 */
export function deepChain(root: string): string {
  let fd = openSync(root, "r");
  for (let i = 0; i < DEEP_TREE_DEPTH; i++) {
    mkdirSync(`/proc/self/fd/${fd}/d`);
    const next = openSync(`/proc/self/fd/${fd}/d`, "r");
    closeSync(fd);
    fd = next;
  }
  writeFileSync(`/proc/self/fd/${fd}/f`, "deep\n");
  closeSync(fd);
  return `${Array.from({ length: DEEP_TREE_DEPTH }, () => "d").join("/")}/f`;
}
