import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, existsSync, readFileSync } from "node:fs";
import { mkdir, open, readdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { BurrowError, ErrorCode } from "@burrow/core";
import type { TemplateContexts } from "./contract.js";
import { type ContextEntry, indexTar } from "./tar-index.js";

/** Default size limit of a context archive, compressed and uncompressed. */
export const DEFAULT_MAX_CONTEXT_BYTES = 1 << 30;
export const CONTEXT_HASH_PATTERN = /^[0-9a-f]{64}$/;

function tooLarge(limit: number): BurrowError {
  return new BurrowError(ErrorCode.PayloadTooLarge, `the build context is larger than the limit of ${limit} bytes`, {
    details: { field: "context", limitBytes: limit },
  });
}

function limiter(limit: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > limit) done(tooLarge(limit));
      else done(null, chunk);
    },
  });
}

/**
 * Build contexts under `<dataDir>/template-contexts`: `<hash>.tar` (decompressed when uploaded
 * gzip-compressed) and `<hash>.json`, its checked entry list. The hash is the sha256 of the bytes
 * as uploaded. An archive whose paths or links leave it is refused whole. The builder deletes a
 * context when the last build using it ends; the server clears them all at start.
 */
export class ContextStore implements TemplateContexts {
  constructor(
    private readonly root: string,
    private readonly maxBytes = DEFAULT_MAX_CONTEXT_BYTES,
  ) {}

  has(hash: string): boolean {
    return CONTEXT_HASH_PATTERN.test(hash) && existsSync(join(this.root, `${hash}.json`));
  }

  tarPath(hash: string): string {
    return join(this.root, `${hash}.tar`);
  }

  /** The checked entries of a stored context; a 400 naming the hash when there is none. */
  entries(hash: string): ContextEntry[] {
    if (!this.has(hash)) {
      throw new BurrowError(ErrorCode.ValidationFailed, `build context ${hash} was not uploaded`, {
        details: { field: "contextHash", contextHash: hash },
      });
    }
    return JSON.parse(readFileSync(join(this.root, `${hash}.json`), "utf8")) as ContextEntry[];
  }

  /** Removes a stored context (its entry list first: `has` answers false from then on). */
  async delete(hash: string): Promise<void> {
    if (!CONTEXT_HASH_PATTERN.test(hash)) return;
    await rm(join(this.root, `${hash}.json`), { force: true });
    await rm(this.tarPath(hash), { force: true });
  }

  /**
   * At start: removes every stored context and half-written upload. Contexts live for the build
   * that uses them; one uploaded before a stop and not built yet must be uploaded again.
   */
  async clear(): Promise<number> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    for (const name of names) await rm(join(this.root, name), { force: true, recursive: true });
    return names.length;
  }

  async put(body: AsyncIterable<Uint8Array>, expectedHash?: string, signal?: AbortSignal): Promise<string> {
    if (expectedHash !== undefined && !CONTEXT_HASH_PATTERN.test(expectedHash)) {
      throw new BurrowError(ErrorCode.ValidationFailed, "the context hash must be 64 lower-case hex digits", {
        details: { field: "hash" },
      });
    }
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    const tmp = join(this.root, `.upload-${randomBytes(6).toString("hex")}`);
    const plain = `${tmp}.tar`;
    try {
      const hash = createHash("sha256");
      const hasher = new Transform({
        transform(chunk: Buffer, _enc, done) {
          hash.update(chunk);
          done(null, chunk);
        },
      });
      await pipeline(body, limiter(this.maxBytes), hasher, createWriteStream(tmp, { mode: 0o600 }), {
        ...(signal ? { signal } : {}),
      });
      const digest = hash.digest("hex");
      if (expectedHash !== undefined && digest !== expectedHash) {
        throw new BurrowError(ErrorCode.ValidationFailed, `the uploaded bytes hash to ${digest}, not ${expectedHash}`, {
          details: { field: "hash", expected: expectedHash, actual: digest },
        });
      }
      if (this.has(digest)) return digest;
      const magic = Buffer.alloc(2);
      const fh = await open(tmp, "r");
      await fh.read(magic, 0, 2, 0).finally(() => fh.close());
      if (magic[0] === 0x1f && magic[1] === 0x8b) {
        await pipeline(createReadStream(tmp), createGunzip(), limiter(this.maxBytes), createWriteStream(plain));
      } else {
        await rename(tmp, plain);
      }
      const entries = await indexTar(plain);
      await rename(plain, this.tarPath(digest));
      await writeFile(join(this.root, `${digest}.json.tmp`), JSON.stringify(entries));
      await rename(join(this.root, `${digest}.json.tmp`), join(this.root, `${digest}.json`));
      return digest;
    } catch (err) {
      if (err instanceof BurrowError) throw err;
      if ((err as { code?: string }).code === "Z_DATA_ERROR") {
        throw new BurrowError(ErrorCode.ValidationFailed, "the build context is not a valid gzip archive", {
          details: { field: "context" },
        });
      }
      throw err;
    } finally {
      await rm(tmp, { force: true });
      await rm(plain, { force: true });
    }
  }
}
