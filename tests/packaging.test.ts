import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const UNIT = resolve(__dirname, "../packaging/burrow.service");
const dir = mkdtempSync(join(tmpdir(), "burrow-unit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `systemd-analyze verify` of a unit file: what it complains about (empty when the unit is sound). */
function verify(unitText: string): string {
  const path = join(dir, "burrow.service");
  writeFileSync(path, unitText);
  const result = spawnSync("systemd-analyze", ["verify", path], { encoding: "utf8" });
  return `${result.stdout}${result.stderr}`.trim();
}

describe("packaging/burrow.service", () => {
  const text = readFileSync(UNIT, "utf8");

  it("is a unit systemd accepts without a warning", () => {
    expect(verify(text)).toBe("");
    // The check itself notices a broken directive.
    expect(verify(text.replace("KillMode=process", "KillMode=sometimes"))).toMatch(/kill mode/i);
  });

  it("stops only the server, so sandboxes outlive a restart, and starts the built server", () => {
    const directives = new Map(
      text
        .split("\n")
        .filter((l) => /^\w+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    expect(directives.get("KillMode")).toBe("process");
    expect(directives.get("ExecStart")).toMatch(/\/packages\/server\/dist\/main\.js$/);
  });
});
