import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { type BlobStore, sha256 } from "../src/store/blob-store.js";

/** A fresh, empty store and how to dispose of it. */
export interface BlobStoreFixture {
  store: BlobStore;
  dispose(): Promise<void>;
}

async function collect(store: BlobStore): Promise<string[]> {
  const hashes: string[] = [];
  for await (const h of store.list()) hashes.push(h);
  return hashes.sort();
}

async function withStore(make: () => Promise<BlobStoreFixture>, fn: (store: BlobStore) => Promise<void>) {
  const fixture = await make();
  try {
    await fn(fixture.store);
  } finally {
    await fixture.dispose();
  }
}

/**
 * What every BlobStore implementation must do, run against each of them (the local directory in
 * packages/server/test/blob-store.test.ts, S3 on a real Swift in tests/services/).
 */
export function blobStoreContract(name: string, make: () => Promise<BlobStoreFixture>): void {
  describe(`BlobStore contract: ${name}`, () => {
    it("stores by sha256 once, reads back, lists and deletes", async () => {
      await withStore(make, async (blobs) => {
        const data = Buffer.from("hello");
        const first = await blobs.put(data);
        expect(first).toEqual({ hash: sha256(data), newBytes: 5 });
        expect(await blobs.put(data)).toEqual({ hash: first.hash, newBytes: 0 });
        expect(await blobs.has(first.hash)).toBe(true);
        expect((await blobs.get(first.hash)).toString()).toBe("hello");
        expect(await collect(blobs)).toEqual([first.hash]);
        expect(await blobs.delete(first.hash)).toBe(true);
        expect(await blobs.delete(first.hash)).toBe(false);
        expect(await blobs.has(first.hash)).toBe(false);
        await expect(blobs.get(first.hash)).rejects.toThrow(/missing/);
        expect(await collect(blobs)).toEqual([]);
      });
    });

    it("streams a blob with open()", async () => {
      await withStore(make, async (blobs) => {
        const data = randomBytes(200_000);
        const { hash } = await blobs.put(data);
        const parts: Buffer[] = [];
        for await (const part of blobs.open(hash)) parts.push(Buffer.from(part as Uint8Array));
        expect(Buffer.concat(parts).equals(data)).toBe(true);
      });
    });

    it("stores the empty blob and a 4 MiB chunk byte for byte", async () => {
      await withStore(make, async (blobs) => {
        const empty = await blobs.put(new Uint8Array());
        expect(empty).toEqual({ hash: sha256(new Uint8Array()), newBytes: 0 });
        expect((await blobs.get(empty.hash)).byteLength).toBe(0);
        const big = randomBytes(4 * 1024 * 1024);
        const put = await blobs.put(big);
        expect(put.newBytes).toBe(big.byteLength);
        expect((await blobs.get(put.hash)).equals(big)).toBe(true);
      });
    });

    it("puts of the same bytes at the same time store one blob", async () => {
      await withStore(make, async (blobs) => {
        const data = randomBytes(1000);
        const results = await Promise.all([blobs.put(data), blobs.put(data), blobs.put(data)]);
        expect(new Set(results.map((r) => r.hash))).toEqual(new Set([sha256(data)]));
        expect(await collect(blobs)).toEqual([sha256(data)]);
        expect((await blobs.get(sha256(data))).equals(data)).toBe(true);
      });
    });

    // The S3 fixture lists 3 keys a page, so 7 blobs take three pages.
    it("lists every blob, over several pages", async () => {
      await withStore(make, async (blobs) => {
        const hashes: string[] = [];
        for (let i = 0; i < 7; i++) hashes.push((await blobs.put(Buffer.from(`blob ${i}`))).hash);
        expect(await collect(blobs)).toEqual(hashes.sort());
      });
    });

    it("refuses a name that is not a sha256 digest", async () => {
      await withStore(make, async (blobs) => {
        await expect(blobs.get("../etc/passwd")).rejects.toThrow(/sha256/);
        await expect(blobs.has("x".repeat(64))).rejects.toThrow(/sha256/);
        await expect(blobs.delete("A".repeat(64))).rejects.toThrow(/sha256/);
      });
    });

    it("cleanup leaves stored blobs alone", async () => {
      await withStore(make, async (blobs) => {
        const { hash } = await blobs.put(Buffer.from("kept"));
        await blobs.cleanup();
        expect((await blobs.get(hash)).toString()).toBe("kept");
      });
    });
  });
}
