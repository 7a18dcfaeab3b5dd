import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { FakeRuntime } from "@burrow/runtime";
import { describe, expect, it } from "vitest";
import { deepChain } from "../../runtime/test/deep-tree.js";
import { startFakeServer } from "./fake-server.js";

describe("start after a restore a stop interrupted", () => {
  it("removes the half-made upper.restore even when the checkpoint's tree nests deeper than any path", async () => {
    const runtime = new FakeRuntime();
    let fake = await startFakeServer({}, undefined, { runtime });
    const dataDir = fake.dataDir;
    const res = await fetch(`${fake.server.url}/v1/sandboxes`, {
      method: "POST",
      headers: { Authorization: `Bearer ${fake.key}`, "Content-Type": "application/json" },
      body: "{}",
    });
    const id = ((await res.json()) as { id: string }).id;
    await fake.server.close();
    const leftover = join(dirname(runtime.upperDir(id)), "upper.restore");
    mkdirSync(leftover, { recursive: true });
    deepChain(leftover);

    fake = await startFakeServer({}, dataDir, { runtime });
    try {
      expect(existsSync(leftover)).toBe(false);
    } finally {
      await fake.close();
    }
  });
});
