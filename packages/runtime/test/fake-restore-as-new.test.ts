import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FakeRuntime } from "../src/fake-runtime.js";

const resources = { vcpus: 1, memoryMb: 256, pids: 128, diskMb: 0 };

// The fake's restoreAsNew, which server tests of snapshot templates and memory forks run on.
describe("FakeRuntime.restoreAsNew", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("starts new sandboxes from a checkpoint image and refuses a missing one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bfake-"));
    dirs.push(dir);
    const rt = new FakeRuntime();
    const base = { templateLayers: ["/nonexistent"], resources, upperSnapshot: join(dir, "upper") };
    await rt.create({ id: "sb_src", templateLayers: ["/nonexistent"], resources, agentToken: "a", networkIndex: 1 });
    const imageDir = join(dir, "image");
    await rt.checkpoint("sb_src", 1, imageDir);
    await rt.restoreAsNew({ ...base, id: "sb_b", agentToken: "b", networkIndex: 2, imageDir });
    await rt.restoreAsNew({ ...base, id: "sb_c", agentToken: "c", networkIndex: 3, imageDir });
    expect((await rt.status("sb_b")).status).toBe("running");
    expect((await rt.status("sb_c")).status).toBe("running");
    await expect(
      rt.restoreAsNew({ ...base, id: "sb_d", agentToken: "d", networkIndex: 4, imageDir: join(dir, "missing") }),
    ).rejects.toThrow(/no checkpoint image/);
  });
});
