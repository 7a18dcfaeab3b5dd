import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { prepareCapture } from "../src/layers/capture-tool.js";
import { type ManifestEntry, scanUpper } from "../src/layers/entries.js";
import { tempDirsPerTest } from "./temp-dirs.js";

const TOOL = resolve(__dirname, "../../agent/bin/burrow-capture");

const tempDir = tempDirsPerTest("burrow-capture-");

/** An upper dir with every kind of entry, a host file behind links, and an opaque directory. */
function fixture(): { upper: string; hostFile: string } {
  const upper = tempDir();
  const host = tempDir();
  const hostFile = join(host, "secret");
  writeFileSync(hostFile, "host secret");
  mkdirSync(join(upper, "home/user/work"), { recursive: true });
  for (let i = 0; i < 50; i++) writeFileSync(join(upper, `home/user/work/f${i}.txt`), `contents ${i}`);
  writeFileSync(join(upper, "home/user/same.txt"), "unchanged");
  symlinkSync(hostFile, join(upper, "home/user/leak"));
  symlinkSync(host, join(upper, "home/user/leakdir"));
  execFileSync("mknod", [join(upper, "home/user/removed"), "c", "0", "0"]);
  execFileSync("mkfifo", [join(upper, "home/user/pipe")]);
  mkdirSync(join(upper, "opt/fresh"), { recursive: true });
  execFileSync("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", join(upper, "opt/fresh")]);
  return { upper, hostFile };
}

/** What the stage holds for each copied path. */
function staged(stage: string): Map<string, string> {
  const index = JSON.parse(readFileSync(join(stage, "files.json"), "utf8")) as {
    path: string;
    offset: number;
    size: number;
  }[];
  const data = readFileSync(join(stage, "files.dat"));
  return new Map(index.map((c) => [c.path, data.subarray(c.offset, c.offset + c.size).toString()]));
}

describe("prepareCapture", () => {
  it("has the burrow-capture tool built (packages/agent/build.sh)", () => {
    expect(existsSync(TOOL)).toBe(true);
  });

  it("gives the same scan and stage with the tool as in process, without following links", async () => {
    const { upper } = fixture();
    // The previous checkpoint knows same.txt (its chunks are reused) and an older f0.txt.
    const first = await scanUpper(upper);
    const previous = new Map<string, ManifestEntry>();
    for (const e of first.entries) {
      if (e.path === "home/user/same.txt") previous.set(e.path, { ...e, chunks: ["c-same"] });
      if (e.path === "home/user/work/f0.txt") previous.set(e.path, { ...e, size: 1, chunks: ["c-old"] });
    }
    const results = [];
    for (const tool of [TOOL, undefined]) {
      const stage = tempDir();
      const prepared = await prepareCapture(tool, upper, stage, previous);
      const scan = await prepared.run();
      results.push({ scan, files: staged(stage), leftovers: execFileSync("ls", [stage], { encoding: "utf8" }) });
    }
    const [withTool, inProcess] = results as [(typeof results)[0], (typeof results)[0]];
    expect(withTool.scan.entries).toEqual(inProcess.scan.entries);
    expect(withTool.scan.pending.map((p) => p.entry.path)).toEqual(inProcess.scan.pending.map((p) => p.entry.path));
    expect(withTool.files).toEqual(inProcess.files);
    expect(withTool.leftovers.trim().split("\n")).toEqual(["files.dat", "files.json"]);

    const byPath = new Map(withTool.scan.entries.map((e) => [e.path, e]));
    expect(byPath.get("home/user/same.txt")?.chunks).toEqual(["c-same"]);
    expect(byPath.get("home/user/leak")).toMatchObject({ type: "symlink" });
    expect(byPath.get("home/user/leakdir")).toMatchObject({ type: "symlink" });
    expect(byPath.get("home/user/removed")?.type).toBe("whiteout");
    expect(byPath.get("home/user/pipe")?.type).toBe("fifo");
    expect(byPath.get("opt/fresh")?.opaque).toBe(true);
    expect(withTool.files.get("home/user/work/f0.txt")).toBe("contents 0");
    expect(withTool.files.size).toBe(50);
    expect([...withTool.files.values()].join()).not.toContain("host secret");
  });

  it("cancel ends the waiting tool and removes what prepare wrote", async () => {
    const { upper } = fixture();
    const stage = tempDir();
    const prepared = await prepareCapture(TOOL, upper, stage);
    await prepared.cancel();
    expect(execFileSync("ls", [stage], { encoding: "utf8" }).trim()).toBe("files.dat");
  });

  it("reports a tool that fails (upper dir missing)", async () => {
    await expect(prepareCapture(TOOL, join(tempDir(), "absent"), tempDir())).rejects.toThrow(/burrow-capture failed/);
  });
});
