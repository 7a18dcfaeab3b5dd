import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { HASH_PATTERN, sha256 } from "./blob-store.js";

/**
 * A bounded local copy of blobs a remote blob store served, as files `<dir>/<h0h1>/<hash>`.
 * Least recently used blobs are evicted once the files add up to more than `maxBytes`. Every read
 * checks the file's sha256 against its name: a corrupt or partial file is removed and reported as
 * a miss, never served. Writes land in `<dir>/tmp/` and are renamed into place. Best effort: a
 * cache that cannot write (disk full, permissions) only makes reads slower.
 */
export class BlobCache {
  /** hash → size in bytes, least recently used first (Map keeps insertion order). */
  private readonly index = new Map<string, number>();
  private bytes = 0;
  private loading: Promise<void> | undefined;

  constructor(
    private readonly dir: string,
    private readonly maxBytes: number,
  ) {}

  /** Bytes the cached files add up to. */
  get size(): number {
    return this.bytes;
  }

  path(hash: string): string {
    return join(this.dir, hash.slice(0, 2), hash);
  }

  async get(hash: string): Promise<Buffer | undefined> {
    await this.load();
    const size = this.index.get(hash);
    if (size === undefined) return undefined;
    let data: Buffer;
    try {
      data = await readFile(this.path(hash));
    } catch {
      this.forget(hash);
      return undefined;
    }
    if (data.byteLength !== size || sha256(data) !== hash) {
      await this.drop(hash);
      return undefined;
    }
    this.index.delete(hash);
    this.index.set(hash, size);
    return data;
  }

  /** Keeps `data`, whose sha256 the caller has checked is `hash`. */
  async put(hash: string, data: Uint8Array): Promise<void> {
    if (data.byteLength > this.maxBytes) return;
    await this.load();
    if (this.index.has(hash)) return;
    const temp = join(this.dir, "tmp", `${hash}.${randomBytes(6).toString("hex")}`);
    try {
      await mkdir(join(this.dir, "tmp"), { recursive: true, mode: 0o700 });
      await mkdir(join(this.dir, hash.slice(0, 2)), { recursive: true, mode: 0o700 });
      await writeFile(temp, data, { mode: 0o600 });
      await rename(temp, this.path(hash));
    } catch {
      await rm(temp, { force: true });
      return;
    }
    if (!this.index.has(hash)) {
      this.index.set(hash, data.byteLength);
      this.bytes += data.byteLength;
    }
    await this.evict();
  }

  /** Removes a blob's file (say, after the blob was deleted from the store). */
  async drop(hash: string): Promise<void> {
    this.forget(hash);
    await rm(this.path(hash), { force: true });
  }

  /** Removes temporary files an interrupted write left behind. */
  async cleanup(): Promise<void> {
    await rm(join(this.dir, "tmp"), { recursive: true, force: true });
  }

  private forget(hash: string): void {
    const size = this.index.get(hash);
    if (size === undefined) return;
    this.index.delete(hash);
    this.bytes -= size;
  }

  private async evict(): Promise<void> {
    for (const hash of this.index.keys()) {
      if (this.bytes <= this.maxBytes) return;
      await this.drop(hash);
    }
  }

  /** Indexes the files a previous run left, oldest modification first. */
  private load(): Promise<void> {
    this.loading ??= (async () => {
      const found: { hash: string; size: number; mtimeMs: number }[] = [];
      for (const sub of await readdir(this.dir).catch(() => [] as string[])) {
        if (!/^[0-9a-f]{2}$/.test(sub)) continue;
        for (const name of await readdir(join(this.dir, sub)).catch(() => [] as string[])) {
          if (!HASH_PATTERN.test(name) || !name.startsWith(sub)) continue;
          const st = await stat(join(this.dir, sub, name)).catch(() => undefined);
          if (st?.isFile()) found.push({ hash: name, size: st.size, mtimeMs: st.mtimeMs });
        }
      }
      found.sort((a, b) => a.mtimeMs - b.mtimeMs);
      for (const f of found) {
        if (this.index.has(f.hash)) continue;
        this.index.set(f.hash, f.size);
        this.bytes += f.size;
      }
      await this.evict();
    })();
    return this.loading;
  }
}
