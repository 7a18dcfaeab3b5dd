import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: {
      "@burrow/core": src("core"),
      "@burrow/runtime": src("runtime"),
      "@burrow/egress": src("egress"),
      "@burrow/mcp": src("mcp"),
      "@burrow/sdk": src("sdk"),
      "@burrow/server": src("server"),
    },
  },
  test: {
    include: ["packages/*/test/**/*.test.ts", "tests/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // e2e suites share one host (runsc, cgroups); run files one at a time, tests inside in order.
    fileParallelism: false,
    reporters: ["default"],
  },
});
