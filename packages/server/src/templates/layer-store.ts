import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, rename } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "@burrow/core";
import { removeTree } from "@burrow/runtime";
import type { TemplateStore } from "../store/template-store.js";

/** Directory names in the layer store: the first characters of the digest (short lowerdir strings). */
export const LAYER_DIR_CHARS = 24;
const TEMP_MARK = ".tmp-";

/**
 * Layer directories under `<dataDir>/layers`, one per digest. A layer is written under a
 * temporary name and renamed into place, so a crash never leaves a half layer under its real
 * name; temporary names are removed at start. Layers no version lists are removed by `collect`,
 * except those pinned by a build in progress.
 */
export class LayerStore {
  private readonly pins = new Map<string, number>();
  private collecting: Promise<string[]> | undefined;

  constructor(
    readonly root: string,
    private readonly store: TemplateStore,
    private readonly logger: Logger,
  ) {}

  dirOf(digest: string): string {
    return join(this.root, digest.slice(0, LAYER_DIR_CHARS));
  }

  /** A fresh temporary directory path on the layer store's file system (not created). */
  async tempPath(label: string): Promise<string> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    return join(this.root, `${label.slice(0, 12)}${TEMP_MARK}${randomBytes(6).toString("hex")}`);
  }

  /**
   * Moves `dir` (same file system) into place as layer `digest` and records it. When the layer
   * exists already (another build made it first), `dir` is removed and the existing one kept.
   */
  async commit(digest: string, dir: string, sizeBytes: number): Promise<string> {
    const target = this.dirOf(digest);
    if ((await this.store.layer(digest)) && existsSync(target)) {
      await removeTree(dir);
      return target;
    }
    await removeTree(target); // a directory without a row: left by a crash between rename and insert
    await rename(dir, target);
    await this.store.putLayer({ digest, dir: target, external: false, sizeBytes, createdAt: new Date().toISOString() });
    return target;
  }

  async has(digest: string): Promise<boolean> {
    const layer = await this.store.layer(digest);
    return layer !== undefined && existsSync(layer.dir);
  }

  /** Keeps `digest` from being collected until the returned function is called. */
  pin(digest: string): () => void {
    this.pins.set(digest, (this.pins.get(digest) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.pins.get(digest) ?? 1) - 1;
      if (n <= 0) this.pins.delete(digest);
      else this.pins.set(digest, n);
    };
  }

  /** Removes layers no version lists and nothing pins; returns their digests. */
  collect(): Promise<string[]> {
    // One collection at a time; a call during one runs again after it (it may free more).
    const next = (this.collecting ?? Promise.resolve([])).catch(() => []).then(() => this.collectNow());
    this.collecting = next;
    void next
      .finally(() => {
        if (this.collecting === next) this.collecting = undefined;
      })
      .catch(() => undefined);
    return next;
  }

  private async collectNow(): Promise<string[]> {
    const removed: string[] = [];
    for (const layer of await this.store.unusedLayers()) {
      if (this.pins.has(layer.digest)) continue;
      await this.store.deleteLayer(layer.digest);
      await removeTree(layer.dir);
      removed.push(layer.digest);
    }
    if (removed.length > 0) this.logger.info({ layers: removed.length }, "unused template layers removed");
    return removed;
  }

  /**
   * At start: removes temporary layers and directories no layer row names (a crash mid-build),
   * then collects unused layers.
   */
  async recover(): Promise<string[]> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    const removed: string[] = [];
    for (const name of await readdir(this.root)) {
      const path = join(this.root, name);
      const digestLike = !name.includes(TEMP_MARK);
      if (digestLike && (await this.isRecorded(path))) continue;
      await removeTree(path);
      removed.push(name);
    }
    removed.push(...(await this.collect()));
    return removed;
  }

  private async isRecorded(path: string): Promise<boolean> {
    return (await this.store.layerByDir(path)) !== undefined;
  }
}
