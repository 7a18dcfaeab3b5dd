import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { Sandbox } from "@burrow/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type S3Service, startS3 } from "../services/s3.js";
import { startTestServer, type TestServer } from "./harness.js";

/** Keys under `prefix` in the bucket (all pages). */
async function keys(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) out.push(o.Key ?? "");
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

// The real server with BURROW_BLOB_URL on a real S3 service (Swift): checkpoints are stored in the
// bucket, restored and forked from it, and collected from it.
describe("checkpoints in S3", () => {
  let s3: S3Service;
  let server: TestServer | undefined;
  let client: S3Client;
  let bucket: string;
  const opts = () => ({ apiUrl: server?.url ?? "", apiKey: server?.apiKey ?? "" });

  beforeAll(async () => {
    s3 = await startS3();
    bucket = await s3.createBucket();
    client = s3.client();
    server = await startTestServer(undefined, {
      env: {
        BURROW_BLOB_URL: s3.blobUrl(bucket, "node-a"),
        AWS_ACCESS_KEY_ID: s3.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      },
    });
  }, 240_000);

  afterAll(async () => {
    try {
      await server?.dispose();
    } finally {
      client?.destroy();
      await s3?.stop();
    }
  });

  it("stores a checkpoint's chunks in the bucket, restores and forks from there, and deletes them with it", async () => {
    const srv = server as TestServer;
    const sandbox = await Sandbox.create(opts());
    try {
      await sandbox.commands.run("head -c 3000000 /dev/urandom > /home/user/data.bin && echo origin > /home/user/who");
      const sum = async (s: Sandbox) => (await s.commands.run("sha256sum /home/user/data.bin")).stdout;
      const expected = await sum(sandbox);
      const ck = await sandbox.checkpoints.create({ wait: true });
      expect(ck.status).toBe("ready");

      const stored = await keys(client, bucket, "node-a/blobs/");
      expect(stored.length).toBeGreaterThan(0);
      expect(stored.every((k) => /^node-a\/blobs\/[0-9a-f]{64}$/.test(k))).toBe(true);
      expect(existsSync(join(srv.dataDir, "blobs"))).toBe(false);

      // With the node's cache emptied, restore reads every chunk back from S3.
      rmSync(join(srv.dataDir, "blob-cache"), { recursive: true, force: true });
      await sandbox.commands.run("rm /home/user/data.bin && echo changed > /home/user/who");
      await sandbox.checkpoints.restore(ck.id);
      expect(await sum(sandbox)).toBe(expected);
      expect(await sandbox.files.read("/home/user/who")).toBe("origin\n");

      const fork = await sandbox.checkpoints.fork(ck.id);
      const forked = await Sandbox.connect(fork.sandboxIds[0] as string, opts());
      try {
        expect(await sum(forked)).toBe(expected);
      } finally {
        await forked.kill();
      }

      expect(await sandbox.checkpoints.delete(ck.id)).toBe(true);
      await sandbox.kill();
      // Once nothing references them, the chunks leave the bucket (a restart collects the rest).
      await srv.stop();
      server = await srv.restart();
      expect(await keys(client, bucket, "node-a/blobs/")).toEqual([]);
    } finally {
      await sandbox.kill().catch(() => undefined);
    }
  });
});
