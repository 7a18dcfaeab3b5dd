import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

// Imports only point downward. A package may depend on packages of a lower layer, never on
// one of its own layer or above; clients (sdk, mcp, cli) talk to the server over HTTP only.
const LAYER: Record<string, number> = {
  "@burrow/core": 0,
  "@burrow/runtime": 1,
  "@burrow/egress": 1,
  "@burrow/sdk": 1,
  "@burrow/server": 2,
  "@burrow/mcp": 2,
  "@burrow/cli": 3,
  "@burrow/dashboard": 3,
};
const ALLOWED: Record<string, string[]> = {
  "@burrow/core": [],
  "@burrow/runtime": ["@burrow/core"],
  "@burrow/egress": ["@burrow/core"],
  "@burrow/server": ["@burrow/core", "@burrow/runtime", "@burrow/egress"],
  "@burrow/sdk": ["@burrow/core"],
  "@burrow/cli": ["@burrow/core", "@burrow/sdk", "@burrow/mcp"],
  "@burrow/mcp": ["@burrow/core", "@burrow/sdk"],
  "@burrow/dashboard": ["@burrow/core", "@burrow/sdk"],
};

const root = join(import.meta.dirname, "..");
const packagesDir = join(root, "packages");

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (/\.(ts|tsx|js|mjs)$/.test(name)) out.push(p);
  }
  return out;
}

const packages = readdirSync(packagesDir)
  .map((dir) => ({ dir, pkg: JSON.parse(readFileSync(join(packagesDir, dir, "package.json"), "utf8")) }))
  .filter(({ pkg }) => typeof pkg.name === "string" && pkg.name !== "@burrow/agent") as Array<{
  dir: string;
  pkg: { name: string; dependencies?: Record<string, string> };
}>;

describe("package graph", () => {
  it("knows every workspace package", () => {
    for (const { pkg } of packages) expect(Object.keys(LAYER), pkg.name).toContain(pkg.name);
  });

  it("allows only edges to lower layers", () => {
    for (const [from, targets] of Object.entries(ALLOWED)) {
      for (const to of targets) expect(LAYER[to], `${from} → ${to}`).toBeLessThan(LAYER[from] ?? -1);
    }
  });

  for (const { dir, pkg } of packages) {
    it(`${pkg.name} depends only on allowed lower packages`, () => {
      const deps = Object.keys(pkg.dependencies ?? {}).filter((d) => d.startsWith("@burrow/"));
      for (const dep of deps) expect(ALLOWED[pkg.name], `${pkg.name} → ${dep}`).toContain(dep);
    });

    it(`${pkg.name} source imports match its declared dependencies`, () => {
      const declared = new Set(Object.keys(pkg.dependencies ?? {}));
      const srcDir = join(packagesDir, dir, "src");
      for (const file of sourceFiles(srcDir)) {
        const text = readFileSync(file, "utf8");
        for (const m of text.matchAll(/(?:from|import)\s*\(?\s*["'](@burrow\/[a-z-]+)["']/g)) {
          const target = m[1] as string;
          if (target === pkg.name) continue;
          expect(declared.has(target), `${file} imports ${target} without declaring it`).toBe(true);
          expect(ALLOWED[pkg.name], `${file} imports ${target}`).toContain(target);
        }
        if (pkg.name === "@burrow/core" || pkg.name === "@burrow/sdk") {
          // core runs everywhere; the sdk only reaches node:* through guarded dynamic imports.
          const staticNode = /^import\s[^;]*from\s+["']node:/m.test(text);
          expect(staticNode, `${file} statically imports node:*`).toBe(false);
        }
      }
    });
  }

  // Test files may use what their package may not: the clients' component tests run against the
  // real server app, but only through the shared helper tests/helpers/burrow.ts, so no client's
  // own test code reaches into the server's internals.
  for (const dir of ["sdk", "cli", "mcp"]) {
    it(`@burrow/${dir} tests reach the server only through tests/helpers`, () => {
      for (const file of sourceFiles(join(packagesDir, dir, "test"))) {
        const text = readFileSync(file, "utf8");
        expect(
          /["'](@burrow\/server|[./]*\/server\/(src|test)\/[^"']*)["']/.test(text),
          `${file} imports the server`,
        ).toBe(false);
      }
    });
  }
});
