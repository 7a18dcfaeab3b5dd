import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { lockNetworkPrefix } from "../src/prefix-lock.js";

// The host-wide lock that keeps two servers off one network prefix (flock on a file).
describe("network prefix lock", () => {
  const dir = mkdtempSync(join(tmpdir(), "bpl-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("refuses a prefix another holder has, naming it, and frees it on release", async () => {
    const first = await lockNetworkPrefix("10.231", "/data/one", dir);
    expect(readFileSync(first.path, "utf8")).toBe(`pid ${process.pid}, data dir /data/one\n`);
    await expect(lockNetworkPrefix("10.231", "/data/two", dir)).rejects.toMatchObject({
      code: "conflict",
      message: expect.stringMatching(/10\.231 is in use by another Burrow server.*\/data\/one/),
    });
    // Another prefix is free.
    const other = await lockNetworkPrefix("10.232", "/data/two", dir);
    other.release();
    first.release();
    const again = await lockNetworkPrefix("10.231", "/data/two", dir);
    expect(readFileSync(again.path, "utf8")).toContain("/data/two");
    again.release();
  });
});
