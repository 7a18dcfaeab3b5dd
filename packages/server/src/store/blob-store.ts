import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { access, link, mkdir, readdir, readFile, rm, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { BurrowError, ErrorCode } from "@burrow/core";

export const HASH_PATTERN = /^[0-9a-f]{64}$/;

/**
 * Content-addressed storage of immutable blobs named by the sha256 of their bytes. Writing
 * the same bytes twice stores them once. Implementations: a local directory (here) and an S3
 * bucket with a local read cache (s3-blob-store.ts).
 */
export interface BlobStore {
  /** Stores `data`; `newBytes` is 0 when a blob with that hash already existed. */
  put(data: Uint8Array): Promise<{ hash: string; newBytes: number }>;
  get(hash: string): Promise<Buffer>;
  /** Streams a blob's bytes. */
  open(hash: string): Readable;
  has(hash: string): Promise<boolean>;
  /** False when there was no such blob. */
  delete(hash: string): Promise<boolean>;
  /** Every stored hash (for garbage collection). */
  list(): AsyncIterable<string>;
  /** Removes temporary files an interrupted write left behind. */
  cleanup(): Promise<void>;
}

export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export function checkHash(hash: string): string {
  if (!HASH_PATTERN.test(hash)) throw new BurrowError(ErrorCode.BadRequest, `'${hash}' is not a sha256 hex digest`);
  return hash;
}

/**
 * Blobs as files `<root>/<h0h1>/<h2h3>/<hash>`. Writes go to `<root>/tmp/` first and are renamed
 * into place, so a blob file is either complete or absent, whatever happens to the process.
 */
export class LocalBlobStore implements BlobStore {
  private readonly tmp: string;
  /** Directories known to exist, so a put makes no mkdir calls for them again. */
  private readonly madeDirs = new Set<string>();

  constructor(private readonly root: string) {
    this.tmp = join(root, "tmp");
  }

  path(hash: string): string {
    checkHash(hash);
    return join(this.root, hash.slice(0, 2), hash.slice(2, 4), hash);
  }

  async put(data: Uint8Array): Promise<{ hash: string; newBytes: number }> {
    const hash = sha256(data);
    const target = this.path(hash);
    if (await this.has(hash)) return { hash, newBytes: 0 };
    await this.ensureDir(this.tmp);
    const temp = join(this.tmp, `${hash}.${randomBytes(6).toString("hex")}`);
    try {
      await writeFile(temp, data, { mode: 0o600 });
      await this.ensureDir(join(this.root, hash.slice(0, 2), hash.slice(2, 4)));
      // link() fails when the target exists: a blob is complete or absent, and counted once
      // even when two writers store the same bytes at the same time.
      await link(temp, target);
      return { hash, newBytes: data.byteLength };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") return { hash, newBytes: 0 };
      throw err;
    } finally {
      await rm(temp, { force: true });
    }
  }

  private async ensureDir(dir: string): Promise<void> {
    if (this.madeDirs.has(dir)) return;
    await mkdir(dir, { recursive: true });
    this.madeDirs.add(dir);
  }

  async get(hash: string): Promise<Buffer> {
    const path = this.path(hash);
    try {
      return await readFile(path);
    } catch (err) {
      throw missing(hash, err);
    }
  }

  open(hash: string): Readable {
    return createReadStream(this.path(hash));
  }

  async has(hash: string): Promise<boolean> {
    const path = this.path(hash);
    try {
      await access(path);
      return true;
    } catch {
      return false;
    }
  }

  async size(hash: string): Promise<number> {
    return (await stat(this.path(hash))).size;
  }

  async delete(hash: string): Promise<boolean> {
    const path = this.path(hash);
    try {
      await unlink(path);
      return true;
    } catch {
      return false;
    }
  }

  async *list(): AsyncIterable<string> {
    for (const a of await readdirOrEmpty(this.root)) {
      if (!/^[0-9a-f]{2}$/.test(a)) continue;
      for (const b of await readdirOrEmpty(join(this.root, a))) {
        for (const name of await readdirOrEmpty(join(this.root, a, b))) {
          if (HASH_PATTERN.test(name)) yield name;
        }
      }
    }
  }

  async cleanup(): Promise<void> {
    await rm(this.tmp, { recursive: true, force: true });
    this.madeDirs.delete(this.tmp);
  }
}

export function missing(hash: string, cause: unknown): BurrowError {
  return new BurrowError(ErrorCode.Internal, `blob ${hash} is missing from the blob store`, { cause });
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}
