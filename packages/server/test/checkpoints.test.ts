import { execFileSync } from "node:child_process";
import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  buildManifest,
  CHUNK_BYTES,
  copyToStage,
  ingestStage,
  type ManifestEntry,
  materialize,
  mergeLayers,
  readPlan,
  scanUpper,
  writePlan,
} from "@burrow/runtime";
import { afterEach, describe, expect, it } from "vitest";
import { diffViews, type TemplateLayer, unifiedDiff } from "../src/checkpoints/diff.js";
import { LocalBlobStore } from "../src/store/blob-store.js";

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "burrow-ck-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const isRoot = process.getuid?.() === 0;

describe("buildManifest", () => {
  it.runIf(isRoot)(
    "describes files, chunks, symlinks, whiteouts and opaque dirs, and rebuilds them exactly",
    async () => {
      const upper = tempDir();
      const blobs = new LocalBlobStore(tempDir());
      mkdirSync(join(upper, "home/user"), { recursive: true });
      writeFileSync(join(upper, "home/user/a.txt"), "a\n");
      const big = Buffer.alloc(CHUNK_BYTES + 10, 7);
      writeFileSync(join(upper, "home/user/big"), big);
      writeFileSync(join(upper, "home/user/copy"), big);
      symlinkSync("a.txt", join(upper, "home/user/link"));
      execFileSync("mknod", [join(upper, "home/user/gone"), "c", "0", "0"]);
      mkdirSync(join(upper, "opaque"));
      execFileSync("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", join(upper, "opaque")]);
      const sink = async (chunk: Buffer) => blobs.put(chunk);
      const built = await buildManifest(upper, sink);
      const byPath = new Map(built.entries.map((e) => [e.path, e]));
      expect(byPath.get("home/user/gone")?.type).toBe("whiteout");
      expect(byPath.get("home/user/link")?.target).toBe("a.txt");
      expect(byPath.get("opaque")?.opaque).toBe(true);
      expect(byPath.get("home/user/big")?.chunks).toHaveLength(2);
      // The two identical 4 MiB+ files share their chunks: stored once.
      expect(built.newBytes).toBe(CHUNK_BYTES + 10 + 2);

      // Unchanged files are not read again (hashes reused from the previous manifest).
      const again = await buildManifest(
        upper,
        async () => {
          throw new Error("read an unchanged file");
        },
        byPath,
      );
      expect(again.entries).toEqual(built.entries);

      const out = join(tempDir(), "rebuilt");
      await materialize(built.entries, out, blobs);
      const rebuilt = await buildManifest(out, sink);
      const strip = (es: ManifestEntry[]) => es.map(({ ino: _i, ctimeNs: _c, mtimeNs: _m, ...rest }) => rest);
      expect(strip(rebuilt.entries)).toEqual(strip(built.entries));
    },
  );
});

function entry(path: string, type: ManifestEntry["type"], extra: Partial<ManifestEntry> = {}): ManifestEntry {
  return { path, type, mode: 0o644, uid: 0, gid: 0, mtimeNs: "0", size: 1, ...extra };
}

const template: TemplateLayer = {
  async stat(path) {
    return path === "etc/motd" || path === "etc" ? { type: path === "etc" ? "dir" : "file", size: 9 } : null;
  },
  async chunks() {
    return ["t"];
  },
  async readlink() {
    return "";
  },
};

describe("diff", () => {
  it("lists added, modified and removed files across layers and the template", async () => {
    const from = [entry("a", "file", { chunks: ["1"] }), entry("b", "file", { chunks: ["2"] }), entry("d", "dir")];
    const to = [
      entry("a", "file", { chunks: ["9"], size: 2 }),
      entry("c", "file", { chunks: ["3"] }),
      entry("etc/motd", "whiteout"),
      entry("d", "dir"),
    ];
    const entries = await diffViews(from, to, template);
    expect(entries).toEqual([
      { path: "/a", change: "modified", type: "file", oldSize: 1, newSize: 2 },
      { path: "/b", change: "removed", type: "file", oldSize: 1 },
      { path: "/c", change: "added", type: "file", newSize: 1 },
      { path: "/etc/motd", change: "removed", type: "file", oldSize: 9 },
    ]);
  });

  it("merges a fork's layer over its base the way overlayfs does", () => {
    const base = [entry("d", "dir"), entry("d/x", "file"), entry("e", "dir"), entry("e/y", "file"), entry("f", "file")];
    const upper = [
      entry("d", "whiteout"),
      entry("e", "dir", { opaque: true }),
      entry("e/z", "file"),
      entry("g", "file"),
    ];
    expect(mergeLayers(base, upper).map((e) => `${e.path}:${e.type}`)).toEqual([
      "d:whiteout",
      "e:dir",
      "e/z:file",
      "f:file",
      "g:file",
    ]);
  });

  it("writes unified diffs with context", () => {
    const a = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
    const b = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n10\n";
    expect(unifiedDiff(a, b, "a/f", "b/f")).toBe(
      "--- a/f\n+++ b/f\n@@ -2,8 +2,9 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n 9\n+10\n",
    );
    expect(unifiedDiff(a, a, "a", "b")).toBe("");
    expect(unifiedDiff("", "x\n", "a", "b")).toBe("--- a\n+++ b\n@@ -0,0 +1,1 @@\n+x\n");
  });
});

describe("staging", () => {
  it("a staged copy chunks to exactly what reading the files in place gives", async () => {
    const upper = tempDir();
    const stage = join(tempDir(), "stage");
    const blobs = new LocalBlobStore(tempDir());
    const long = `${"d".repeat(60)}/${"e".repeat(60)}/${"f".repeat(80)}.txt`;
    mkdirSync(join(upper, long, ".."), { recursive: true });
    mkdirSync(join(upper, "home/user/with space"), { recursive: true });
    writeFileSync(join(upper, long), "long path\n");
    writeFileSync(join(upper, "home/user/with space/-dash ünï"), "odd name\n");
    writeFileSync(join(upper, "home/user/empty"), "");
    writeFileSync(join(upper, "home/user/big"), Buffer.alloc(CHUNK_BYTES * 2 + 3, 9));
    writeFileSync(join(upper, "home/user/a"), "same inode\n");
    linkSync(join(upper, "home/user/a"), join(upper, "home/user/b"));
    const sink = async (chunk: Buffer) => blobs.put(chunk);
    const inPlace = await buildManifest(upper, sink);

    const scan = await scanUpper(upper);
    mkdirSync(stage);
    const pending = scan.pending.map((p) => p.entry.path);
    await copyToStage(upper, pending, stage);
    const plan = { entries: scan.entries, pending, memory: false };
    await writePlan(stage, plan);
    const staged = await ingestStage(stage, (await readPlan(stage)) ?? plan, sink);
    const chunksOf = (entries: ManifestEntry[]) => entries.map((e) => [e.path, e.type, e.chunks ?? null]);
    expect(chunksOf(staged.entries)).toEqual(chunksOf(inPlace.entries));
    expect(staged.entries.find((e) => e.path === "home/user/empty")?.chunks).toEqual([]);
    expect(staged.entries.find((e) => e.path === "home/user/big")?.chunks).toHaveLength(3);
    expect(staged.newBytes).toBe(0);
  });
});
