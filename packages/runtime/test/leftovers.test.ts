import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { reapLeftovers } from "../src/leftovers.js";
import { SpawnRunner } from "../src/spawn-runner.js";
import { deepChain } from "./deep-tree.js";
import { tempDirsPerTest } from "./temp-dirs.js";

const tempDir = tempDirsPerTest("burrow-leftovers-");

describe("reapLeftovers", () => {
  it("removes a dead sandbox's directory even when the sandbox nested its files deeper than any path", async () => {
    const sandboxesDir = tempDir();
    const dead = "sb_leftoverdeeptreeaaaa";
    const live = "sb_stillaliveandwellaaa";
    mkdirSync(join(sandboxesDir, dead, "upper"), { recursive: true });
    mkdirSync(join(sandboxesDir, live, "upper"), { recursive: true });
    deepChain(join(sandboxesDir, dead, "upper"));

    const reaped = await reapLeftovers(
      {
        sandboxesDir,
        runscStateDir: tempDir(),
        // A prefix no test or server here uses: nothing on the host's network is touched.
        networkPrefix: "10.77",
        runscPath: "runsc",
        runner: new SpawnRunner(),
      },
      new Set([live]),
    );
    expect(reaped).toContain(`directory ${join(sandboxesDir, dead)}`);
    expect(existsSync(join(sandboxesDir, dead))).toBe(false);
    expect(existsSync(join(sandboxesDir, live, "upper"))).toBe(true);
  });
});
