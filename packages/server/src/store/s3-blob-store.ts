import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { BurrowError, ErrorCode } from "@burrow/core";
import { BlobCache } from "./blob-cache.js";
import { type BlobStore, checkHash, HASH_PATTERN, missing, sha256 } from "./blob-store.js";
import type { S3BlobConfig } from "./blob-url.js";

export interface S3BlobStoreOptions {
  /** The node's local read cache; none when undefined. */
  cache?: BlobCache;
  /** Keys per ListObjectsV2 page (S3's maximum and default: 1000). */
  listPageSize?: number;
}

interface S3ErrorShape {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

function notFound(err: unknown): boolean {
  const e = err as S3ErrorShape;
  return (
    e.name === "NoSuchKey" ||
    e.name === "NotFound" ||
    (e.$metadata?.httpStatusCode === 404 && e.name !== "NoSuchBucket")
  );
}

/**
 * Blobs as objects `<prefix>blobs/<sha256>` of an S3 bucket (AWS, or any S3-compatible service
 * such as Swift's s3api), with a local read cache. Reads check the sha256 of what S3 returns, so
 * a damaged object is reported, never used. `put` asks first and skips bytes already stored; two
 * nodes storing the same new bytes at the same instant both upload them (identical content, so
 * the object stays right) and both count them in `newBytes`.
 */
export class S3BlobStore implements BlobStore {
  private readonly keyPrefix: string;
  private readonly cache: BlobCache | undefined;
  private readonly listPageSize: number;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    prefix: string,
    options: S3BlobStoreOptions = {},
  ) {
    this.keyPrefix = `${prefix}blobs/`;
    this.cache = options.cache;
    this.listPageSize = options.listPageSize ?? 1000;
  }

  static fromConfig(config: S3BlobConfig): S3BlobStore {
    const client = new S3Client({
      region: config.region,
      forcePathStyle: config.forcePathStyle,
      ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
      credentials: {
        accessKeyId: config.accessKeyId,
        secretAccessKey: config.secretAccessKey.reveal(),
        ...(config.sessionToken ? { sessionToken: config.sessionToken.reveal() } : {}),
      },
      // Plain requests that S3-compatible services understand; integrity comes from the
      // Content-MD5 of each upload and the sha256 check of each download.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      maxAttempts: 3,
      requestHandler: { connectionTimeout: 5_000, requestTimeout: 120_000 },
    });
    const cache = config.cacheMaxBytes > 0 ? new BlobCache(config.cacheDir, config.cacheMaxBytes) : undefined;
    return new S3BlobStore(client, config.bucket, config.prefix, cache ? { cache } : {});
  }

  key(hash: string): string {
    return `${this.keyPrefix}${checkHash(hash)}`;
  }

  async put(data: Uint8Array): Promise<{ hash: string; newBytes: number }> {
    const hash = sha256(data);
    if (await this.has(hash)) return { hash, newBytes: 0 };
    const key = this.key(hash);
    await this.call("PutObject", key, () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: data,
          ContentLength: data.byteLength,
          ContentMD5: createHash("md5").update(data).digest("base64"),
          ContentType: "application/octet-stream",
        }),
      ),
    );
    await this.cache?.put(hash, data);
    return { hash, newBytes: data.byteLength };
  }

  async get(hash: string): Promise<Buffer> {
    const key = this.key(hash);
    const cached = await this.cache?.get(hash);
    if (cached) return cached;
    let data: Buffer;
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      data = Buffer.from((await res.Body?.transformToByteArray()) ?? new Uint8Array());
    } catch (err) {
      if (notFound(err)) throw missing(hash, err);
      throw this.failure("GetObject", key, err);
    }
    if (sha256(data) !== hash) {
      throw new BurrowError(
        ErrorCode.Internal,
        `blob ${hash} in s3://${this.bucket}/${key} is damaged: its ${data.byteLength} bytes have another sha256`,
      );
    }
    await this.cache?.put(hash, data);
    return data;
  }

  open(hash: string): Readable {
    const get = () => this.get(hash);
    return Readable.from(
      (async function* () {
        yield await get();
      })(),
    );
  }

  async has(hash: string): Promise<boolean> {
    const key = this.key(hash);
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return true;
    } catch (err) {
      if (notFound(err)) return false;
      throw this.failure("HeadObject", key, err);
    }
  }

  async delete(hash: string): Promise<boolean> {
    const key = this.key(hash);
    await this.cache?.drop(hash);
    // S3 answers a delete of a missing key with success: ask first to report "not found".
    if (!(await this.has(hash))) return false;
    await this.call("DeleteObject", key, () =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })),
    );
    return true;
  }

  async *list(): AsyncIterable<string> {
    let token: string | undefined;
    do {
      const page = await this.call("ListObjectsV2", this.keyPrefix, () =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.keyPrefix,
            MaxKeys: this.listPageSize,
            ...(token === undefined ? {} : { ContinuationToken: token }),
          }),
        ),
      );
      for (const object of page.Contents ?? []) {
        const name = object.Key?.slice(this.keyPrefix.length) ?? "";
        if (HASH_PATTERN.test(name)) yield name;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** Uploads are single PutObject calls (atomic in S3), so only the local cache can hold leftovers. */
  async cleanup(): Promise<void> {
    await this.cache?.cleanup();
  }

  /** Closes the client's connections. */
  close(): void {
    this.client.destroy();
  }

  private async call<T>(op: string, key: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.failure(op, key, err);
    }
  }

  private failure(op: string, key: string, err: unknown): BurrowError {
    const e = err as S3ErrorShape;
    const status = e.$metadata?.httpStatusCode;
    const hint =
      e.name === "NoSuchBucket"
        ? `; bucket '${this.bucket}' does not exist: create it`
        : status === 403
          ? "; check the S3 credentials"
          : "";
    return new BurrowError(
      ErrorCode.ServiceUnavailable,
      `S3 blob store: ${op} s3://${this.bucket}/${key} failed: ${e.name ?? "error"}${status ? ` (HTTP ${status})` : ""}${hint}`,
      { cause: err },
    );
  }
}
