import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { COMMANDS } from "../packages/cli/src/index.js";

// The reference docs list what the code has, and only that.
const root = join(import.meta.dirname, "..");
const read = (path: string) => readFileSync(join(root, path), "utf8");

/** Lines of a markdown section: from its `## ` heading to the next one. */
function section(markdown: string, heading: string): string[] {
  const lines = markdown.split("\n");
  const start = lines.indexOf(`## ${heading}`);
  if (start === -1) throw new Error(`no section '## ${heading}'`);
  const end = lines.findIndex((l, i) => i > start && l.startsWith("## "));
  return lines.slice(start + 1, end === -1 ? undefined : end);
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sourceFiles(p) : /\.ts$/.test(name) ? [p] : [];
  });
}

const BURROW_VAR = /BURROW_[A-Z0-9_]+/g;

describe("docs/cli.md", () => {
  const doc = read("docs/cli.md");
  const tableRows = doc.split("\n").filter((l) => l.startsWith("| [`"));
  const listed = new Set(
    tableRows.flatMap((row) => [...(row.split("](")[0] ?? "").matchAll(/`([a-z-]+)`/g)].map((m) => m[1])),
  );
  const headings = doc.split("\n").filter((l) => l.startsWith("## "));
  const names = COMMANDS.map((c) => c.spec.name);

  it("lists every command of the CLI in its table, with a section", () => {
    expect(names.length).toBeGreaterThan(20);
    for (const name of names) {
      expect(listed.has(name), `${name} missing from the command table`).toBe(true);
      expect(
        headings.some((h) => h.split(/[ ,]+/).includes(name)),
        `${name} has no '## ' section`,
      ).toBe(true);
    }
  });

  it("lists no command the CLI does not have", () => {
    for (const name of listed) expect(names, `docs/cli.md lists '${name}'`).toContain(name);
  });
});

describe("README configuration", () => {
  const documented = new Set(section(read("README.md"), "Configuration").flatMap((l) => l.match(BURROW_VAR) ?? []));
  const serverReads = new Set(read("packages/server/src/config.ts").match(BURROW_VAR) ?? []);
  const anySourceReads = new Set(
    readdirSync(join(root, "packages"))
      .filter((dir) => statSync(join(root, "packages", dir, "src"), { throwIfNoEntry: false })?.isDirectory())
      .flatMap((dir) => sourceFiles(join(root, "packages", dir, "src")))
      .flatMap((file) => readFileSync(file, "utf8").match(BURROW_VAR) ?? []),
  );

  it("documents every variable packages/server/src/config.ts reads", () => {
    expect(serverReads.size).toBeGreaterThan(10);
    for (const name of serverReads) expect(documented.has(name), `${name} is not in README's table`).toBe(true);
  });

  it("documents only variables the code reads", () => {
    for (const name of documented) expect(anySourceReads.has(name), `README documents ${name}`).toBe(true);
  });
});
