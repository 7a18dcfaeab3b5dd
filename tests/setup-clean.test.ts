import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..");

/** Lines of a shell script that are not comments. */
function commands(script: string): string[] {
  return readFileSync(join(root, "scripts", script), "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

// Issue 11, item 17: `npm start` in a fresh clone must not rewrite package-lock.json.
// scripts/check-clean-clone.sh does the full check (a real clone and install) for CI.
describe("setup keeps a clone clean", () => {
  it("installs npm dependencies with `npm ci`, never `npm install`", () => {
    const lines = [...commands("setup.sh"), ...commands("install-npm-deps.sh")];
    expect(lines).toContain("bash scripts/install-npm-deps.sh");
    expect(lines.some((l) => /^npm ci\b/.test(l))).toBe(true);
    expect(lines.filter((l) => /\bnpm (install|i|update)\b/.test(l))).toEqual([]);
  });

  it("`npm ci` accepts package-lock.json as it is and leaves it byte-identical (offline dry run)", () => {
    const dir = mkdtempSync("/tmp/burrow-lock-");
    try {
      const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { workspaces: string[] };
      for (const file of ["package.json", "package-lock.json", ...pkg.workspaces.map((w) => `${w}/package.json`)]) {
        mkdirSync(join(dir, file, ".."), { recursive: true });
        copyFileSync(join(root, file), join(dir, file));
      }
      const npm = spawnSync(
        "npm",
        ["ci", "--dry-run", "--offline", "--ignore-scripts", "--no-audit", "--no-fund", "--cache", join(dir, ".cache")],
        { cwd: dir, encoding: "utf8", timeout: 60_000 },
      );
      // A lock out of sync with package.json (say, missing another platform's optional binary)
      // fails here with EUSAGE, as `npm ci` in setup would.
      expect(npm.status, npm.stderr).toBe(0);
      expect(readFileSync(join(dir, "package-lock.json"))).toEqual(readFileSync(join(root, "package-lock.json")));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
