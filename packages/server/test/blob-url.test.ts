import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { parseBlobUrl } from "../src/store/blob-url.js";

const cache = { dir: "/data/blob-cache", maxBytes: 1024 };
const creds = { AWS_ACCESS_KEY_ID: "AKID", AWS_SECRET_ACCESS_KEY: "s3cr3t-value" };

describe("BURROW_BLOB_URL", () => {
  it("defaults to the local directory", () => {
    expect(parseBlobUrl(undefined, {}, "/data/blobs", cache)).toEqual({ kind: "local", dir: "/data/blobs" });
    expect(parseBlobUrl("", {}, "/data/blobs", cache)).toEqual({ kind: "local", dir: "/data/blobs" });
  });

  it("reads bucket, prefix, endpoint, region and path style; credentials from the environment", () => {
    const c = parseBlobUrl(
      "s3://my-bucket/team/a?endpoint=http://127.0.0.1:9000/&region=eu-west-1",
      creds,
      "/d",
      cache,
    );
    expect(c).toMatchObject({
      kind: "s3",
      bucket: "my-bucket",
      prefix: "team/a/",
      endpoint: "http://127.0.0.1:9000",
      region: "eu-west-1",
      forcePathStyle: true,
      accessKeyId: "AKID",
      cacheDir: "/data/blob-cache",
      cacheMaxBytes: 1024,
    });
    if (c.kind !== "s3") throw new Error("expected s3");
    expect(c.secretAccessKey.reveal()).toBe("s3cr3t-value");
    // AWS itself: virtual-hosted style, default region.
    expect(parseBlobUrl("s3://my-bucket", creds, "/d", cache)).toMatchObject({
      prefix: "",
      region: "us-east-1",
      forcePathStyle: false,
    });
    expect(parseBlobUrl("s3://my-bucket?path_style=1", creds, "/d", cache)).toMatchObject({ forcePathStyle: true });
  });

  it("takes credentials from the URL before the environment, and never prints the secret", () => {
    const c = parseBlobUrl("s3://acct%3Auser:p%2Fss@my-bucket?endpoint=http://h:1", creds, "/d", cache);
    expect(c).toMatchObject({ accessKeyId: "acct:user" });
    if (c.kind !== "s3") throw new Error("expected s3");
    expect(c.secretAccessKey.reveal()).toBe("p/ss");
    expect(JSON.stringify(c)).not.toContain("p/ss");
    expect(inspect(c, { depth: 5 })).not.toContain("p/ss");
    expect(`${c.secretAccessKey}`).toBe("[redacted]");
  });

  it("rejects bad URLs with a validation error that names what to change and hides the URL", () => {
    const bad: [string, Record<string, string>, RegExp][] = [
      ["s3://my-bucket", {}, /no S3 credentials/],
      ["http://my-bucket", creds, /scheme 'http:'/],
      ["s3://My_Bucket", creds, /not an S3 bucket name/],
      ["s3://my-bucket?endpont=http://x", creds, /unknown parameter 'endpont'/],
      ["s3://my-bucket?endpoint=ftp://x", creds, /endpoint parameter/],
      ["s3://my-bucket?path_style=yes", creds, /path_style must be 0 or 1/],
      ["s3://keyonly@my-bucket", creds, /without a secret/],
      ["s3://key:%zz@my-bucket", creds, /not a URL|percent/],
    ];
    for (const [url, env, message] of bad) {
      let err: unknown;
      try {
        parseBlobUrl(url, env, "/d", cache);
      } catch (e) {
        err = e;
      }
      expect(err, url).toMatchObject({ code: "validation_failed", message: expect.stringMatching(message) });
      expect((err as Error).message, url).not.toContain("%zz");
    }
  });

  it("is part of the server configuration, with the cache size from BURROW_BLOB_CACHE_MB", () => {
    const c = loadConfig({
      BURROW_DATA_DIR: "/srv/b",
      BURROW_BLOB_URL: "s3://bkt?endpoint=http://h:1",
      BURROW_BLOB_CACHE_MB: "5",
      ...creds,
    });
    expect(c.blobStore).toMatchObject({ kind: "s3", cacheDir: "/srv/b/blob-cache", cacheMaxBytes: 5 * 1024 * 1024 });
    expect(() => loadConfig({ BURROW_BLOB_CACHE_MB: "lots" })).toThrowError(/BURROW_BLOB_CACHE_MB/);
  });
});
