import { mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeleteObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../packages/server/src/config.js";
import { BlobCache } from "../../packages/server/src/store/blob-cache.js";
import { sha256 } from "../../packages/server/src/store/blob-store.js";
import { openBlobStore } from "../../packages/server/src/store/open-blob-store.js";
import { S3BlobStore } from "../../packages/server/src/store/s3-blob-store.js";
import { blobStoreContract } from "../../packages/server/test/blob-store-contract.js";
import { type S3Service, startS3 } from "./s3.js";

let s3: S3Service;
// Starting Swift takes seconds of CPU; on a loaded 2-core host that can be a minute.
beforeAll(async () => {
  s3 = await startS3();
}, 240_000);
afterAll(async () => {
  await s3?.stop();
});

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "burrow-s3cache-"));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A store on a fresh bucket of the test Swift; `client` is the test's own view of the bucket. */
async function s3Store(cacheMaxBytes = 64 * 1024 * 1024, listPageSize = 3) {
  const bucket = await s3.createBucket();
  const cache = cacheMaxBytes > 0 ? new BlobCache(tempDir(), cacheMaxBytes) : undefined;
  const store = new S3BlobStore(s3.client(), bucket, "node-a/", { ...(cache ? { cache } : {}), listPageSize });
  const client = s3.client();
  return {
    store,
    cache,
    bucket,
    client,
    key: (hash: string) => `node-a/blobs/${hash}`,
    dispose: async () => {
      store.close();
      client.destroy();
    },
  };
}

blobStoreContract("S3 on Swift, with a local cache", () => s3Store());
blobStoreContract("S3 on Swift, no cache", () => s3Store(0));

describe("S3BlobStore", () => {
  it("never returns bytes whose sha256 is not the blob's name", async () => {
    const f = await s3Store(0);
    try {
      const { hash } = await f.store.put(Buffer.from("the real bytes"));
      await f.client.send(new PutObjectCommand({ Bucket: f.bucket, Key: f.key(hash), Body: Buffer.from("tampered") }));
      await expect(f.store.get(hash)).rejects.toThrow(/damaged/);
    } finally {
      await f.dispose();
    }
  });

  it("serves reads from the local cache, and refetches when a cached file is corrupt or partial", async () => {
    const f = await s3Store();
    const cache = f.cache as BlobCache;
    try {
      const data = Buffer.from("cached bytes, long enough to cut in half");
      const { hash } = await f.store.put(data);
      // Gone from S3, still served from the cache.
      await f.client.send(new DeleteObjectCommand({ Bucket: f.bucket, Key: f.key(hash) }));
      expect((await f.store.get(hash)).equals(data)).toBe(true);

      // Corrupt and partial cache files are never served: the read goes to S3.
      await f.client.send(new PutObjectCommand({ Bucket: f.bucket, Key: f.key(hash), Body: data }));
      writeFileSync(cache.path(hash), Buffer.from("x".repeat(data.byteLength)));
      expect((await f.store.get(hash)).equals(data)).toBe(true);
      truncateSync(cache.path(hash), 10);
      expect((await f.store.get(hash)).equals(data)).toBe(true);
      // The refetched bytes repaired the cache: served again with S3 emptied.
      await f.client.send(new DeleteObjectCommand({ Bucket: f.bucket, Key: f.key(hash) }));
      expect((await f.store.get(hash)).equals(data)).toBe(true);
    } finally {
      await f.dispose();
    }
  });

  it("keeps the cache under its size, evicting the least recently used blob", async () => {
    const f = await s3Store(2500);
    const cache = f.cache as BlobCache;
    try {
      const a = await f.store.put(Buffer.alloc(1000, 1));
      const b = await f.store.put(Buffer.alloc(1000, 2));
      await f.store.get(a.hash); // a is now more recent than b
      const c = await f.store.put(Buffer.alloc(1000, 3));
      expect(cache.size).toBeLessThanOrEqual(2500);
      const files = readdirSync(join(cache.path(a.hash), "..", ".."), { recursive: true })
        .map(String)
        .filter((p) => /[0-9a-f]{64}$/.test(p))
        .map((p) => p.slice(-64));
      expect(files.sort()).toEqual([a.hash, c.hash].sort());
      expect(files).not.toContain(b.hash);
      // An evicted blob is still read from S3.
      expect((await f.store.get(b.hash)).equals(Buffer.alloc(1000, 2))).toBe(true);
    } finally {
      await f.dispose();
    }
  });

  it("is what BURROW_BLOB_URL selects, with credentials from the environment (the default stays local)", async () => {
    const dataDir = tempDir();
    expect(loadConfig({ BURROW_DATA_DIR: dataDir }).blobStore).toEqual({ kind: "local", dir: join(dataDir, "blobs") });
    const bucket = await s3.createBucket();
    const config = loadConfig({
      BURROW_DATA_DIR: dataDir,
      BURROW_BLOB_URL: s3.blobUrl(bucket, "cluster-1"),
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    });
    const store = openBlobStore(config.blobStore);
    expect(store).toBeInstanceOf(S3BlobStore);
    try {
      const { hash } = await store.put(Buffer.from("via config"));
      expect((store as S3BlobStore).key(hash)).toBe(`cluster-1/blobs/${hash}`);
      expect((await store.get(hash)).toString()).toBe("via config");
      expect(hash).toBe(sha256(Buffer.from("via config")));
    } finally {
      (store as S3BlobStore).close();
    }
  });

  it("reports a missing bucket and wrong credentials as the service being unavailable, with a hint", async () => {
    const missing = new S3BlobStore(s3.client(), "no-such-bucket-here", "");
    const wrong = loadConfig({
      BURROW_DATA_DIR: tempDir(),
      BURROW_BLOB_URL: s3.blobUrl(await s3.createBucket()),
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: "wrong",
    }).blobStore;
    if (wrong.kind !== "s3") throw new Error("expected an S3 blob store");
    const intruder = S3BlobStore.fromConfig(wrong);
    try {
      await expect(missing.put(Buffer.from("x"))).rejects.toMatchObject({
        code: "service_unavailable",
        message: expect.stringMatching(/does not exist: create it/),
      });
      await expect(intruder.put(Buffer.from("x"))).rejects.toMatchObject({
        code: "service_unavailable",
        message: expect.stringMatching(/HTTP 403.*credentials/),
      });
    } finally {
      missing.close();
      intruder.close();
    }
  });
});
