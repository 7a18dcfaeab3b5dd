import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LocalBlobStore } from "../src/store/blob-store.js";
import { blobStoreContract } from "./blob-store-contract.js";

blobStoreContract("local directory", async () => {
  const dir = mkdtempSync(join(tmpdir(), "burrow-blobs-"));
  return { store: new LocalBlobStore(dir), dispose: async () => rmSync(dir, { recursive: true, force: true }) };
});

describe("LocalBlobStore", () => {
  it("keeps blobs as files named by their hash, and refuses other names as paths", () => {
    const blobs = new LocalBlobStore("/srv/blobs");
    const hash = "ab".repeat(32);
    expect(blobs.path(hash)).toBe(`/srv/blobs/ab/ab/${hash}`);
    expect(() => blobs.path("../etc/passwd")).toThrow(/sha256/);
  });

  it("cleanup removes temp files of interrupted writes", async () => {
    const root = mkdtempSync(join(tmpdir(), "burrow-blobs-"));
    try {
      const blobs = new LocalBlobStore(root);
      mkdirSync(join(root, "tmp"));
      writeFileSync(join(root, "tmp", "half-written"), "x");
      await blobs.cleanup();
      expect(() => readFileSync(join(root, "tmp", "half-written"))).toThrow();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
