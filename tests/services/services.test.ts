import { existsSync } from "node:fs";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import { startPostgres } from "./postgres.js";
import { run } from "./process.js";
import { startS3 } from "./s3.js";

const SLOW = { timeout: 240_000 };

// The real services cluster mode runs on, started from Debian's packages by these helpers.
describe("test services", () => {
  // Starting a service takes seconds of CPU; on a loaded 2-core host that can be a minute.
  it(
    "PostgreSQL: a fresh cluster answers SQL over TCP with the URL's password, and is gone after stop",
    SLOW,
    async () => {
      const pg = await startPostgres();
      let stopped = false;
      try {
        const psql = (sql: string) =>
          run(`${pg.binDir}/psql`, [pg.url, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql], { timeout: 30_000 });
        await psql("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)");
        await psql("INSERT INTO t VALUES (1, 'burrow')");
        expect((await psql("SELECT name FROM t WHERE id = 1")).stdout.trim()).toBe("burrow");
        // The password in the URL is the one that works: another is refused.
        const wrong = pg.url.replace(/:[0-9a-f]+@/, ":wrong@");
        await expect(run(`${pg.binDir}/psql`, [wrong, "-X", "-c", "SELECT 1"], { timeout: 30_000 })).rejects.toThrow(
          /password authentication failed/,
        );
        await pg.stop();
        stopped = true;
        expect(existsSync(pg.socketDir)).toBe(false);
        await expect(run(`${pg.binDir}/psql`, [pg.url, "-X", "-c", "SELECT 1"], { timeout: 30_000 })).rejects.toThrow();
      } finally {
        if (!stopped) await pg.stop();
      }
    },
  );

  it("S3 (Swift + s3api): put, get, list in pages and delete with the AWS SDK", SLOW, async () => {
    const s3 = await startS3();
    let client: S3Client | undefined;
    try {
      const bucket = await s3.createBucket();
      expect(await s3.createBucket(bucket)).toBe(bucket);
      client = s3.client();
      for (const key of ["a/1", "a/2", "a/3"]) {
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.from(`body of ${key}`) }));
      }
      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: "a/2" }));
      expect(await got.Body?.transformToString()).toBe("body of a/2");

      const pages: string[][] = [];
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: "a/", MaxKeys: 2, ContinuationToken: token }),
        );
        pages.push((page.Contents ?? []).map((o) => o.Key ?? ""));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      expect(pages).toEqual([["a/1", "a/2"], ["a/3"]]);

      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: "a/2" }));
      await expect(client.send(new GetObjectCommand({ Bucket: bucket, Key: "a/2" }))).rejects.toMatchObject({
        name: "NoSuchKey",
      });
      // A wrong secret is refused.
      const { S3Client: Client } = await import("@aws-sdk/client-s3");
      const intruder = new Client({
        endpoint: s3.endpoint,
        region: s3.region,
        forcePathStyle: true,
        credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: "wrong" },
      });
      try {
        await expect(intruder.send(new GetObjectCommand({ Bucket: bucket, Key: "a/1" }))).rejects.toMatchObject({
          $metadata: { httpStatusCode: 403 },
        });
      } finally {
        intruder.destroy();
      }
    } finally {
      client?.destroy();
      await s3.stop();
    }
  });
});
