import { stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { BurrowError, DEFAULT_TEMPLATE_TAG, ErrorCode, type TemplateConfig } from "@burrow/core";
import { exportImage, type ImageConfig, removeTree } from "@burrow/runtime";
import type { Catalog } from "./catalog.js";
import type { LayerStore } from "./layer-store.js";

export interface TemplateExporterDeps {
  catalog: Catalog;
  layers: LayerStore;
}

/** An archive written for one export: read it, then `release` removes it. */
export interface ExportedArchive {
  path: string;
  sizeBytes: number;
  /** The version exported. */
  versionId: string;
  release(): Promise<void>;
}

/** The image config of a template: its start command becomes the image's command. */
export function imageConfigOf(config: TemplateConfig): ImageConfig {
  return {
    env: config.env,
    labels: config.labels,
    exposedPorts: config.exposedPorts,
    ...(config.user === undefined ? {} : { user: config.user }),
    ...(config.workdir === undefined ? {} : { workdir: config.workdir }),
    ...(config.startCmd === undefined ? {} : { command: ["/bin/sh", "-c", config.startCmd] }),
  };
}

/**
 * Writes a template version as an OCI archive (runtime `exportImage`: its layers flattened into
 * one image layer, its env, user, workdir, ports, labels and start command as the image config).
 * A snapshot version exports its files (its layers and the snapshot's own files), not its memory.
 * One export runs at a time (each copies and compresses the whole tree); the layers are pinned
 * against collection meanwhile. Archives are written under the layer store's temporary names,
 * so a crash leaves nothing that outlives the next start.
 */
export class TemplateExporter {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: TemplateExporterDeps) {}

  /** Exports `name` at `tag` (default latest) or at the version `versionId`. */
  async export(name: string, selector: { tag?: string; versionId?: string }): Promise<ExportedArchive> {
    const { catalog } = this.deps;
    const template = await catalog.get(name);
    const versionId =
      selector.versionId ?? (template === undefined ? undefined : template.tags[selector.tag ?? DEFAULT_TEMPLATE_TAG]);
    const version = template?.versions.find((v) => v.id === versionId);
    const resolved = versionId === undefined ? undefined : await catalog.version(versionId);
    if (!version || !resolved) {
      const what = selector.versionId ? `${name}@${selector.versionId}` : `${name}:${selector.tag ?? "latest"}`;
      throw new BurrowError(ErrorCode.TemplateNotFound, `template ${what} not found`, { details: { template: what } });
    }
    const layerDirs = [...resolved.layerDirs];
    if (resolved.snapshotImageDir !== undefined) layerDirs.unshift(join(dirname(resolved.snapshotImageDir), "upper"));
    const pins = version.layers.map((d) => this.deps.layers.pin(d));
    const unpin = () => {
      for (const release of pins) release();
    };
    const run = this.queue.then(async () => {
      const work = await this.deps.layers.tempPath("export");
      const archive = `${work}.tar`;
      const release = async () => {
        await removeTree(work);
        await removeTree(archive);
      };
      try {
        await exportImage({ layers: layerDirs, config: imageConfigOf(version.config), archive, workDir: work });
        await removeTree(work);
        return { path: archive, sizeBytes: (await stat(archive)).size, versionId: version.id, release };
      } catch (err) {
        await release();
        throw err;
      } finally {
        unpin();
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }
}
