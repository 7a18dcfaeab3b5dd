import { createHash, randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  BurrowError,
  DEFAULT_TEMPLATE_TAG,
  ErrorCode,
  type Logger,
  parseTemplateRef,
  prefixedId,
  type TemplateConfig,
  type TemplateInfo,
  type TemplateVersionInfo,
} from "@burrow/core";
import type { TemplateStore, VersionRow } from "../store/template-store.js";
import type { ResolvedTemplate, TemplateCatalog } from "./contract.js";
import { directoryConfig } from "./directory-config.js";
import type { LayerStore } from "./layer-store.js";

export const TEMPLATE_VERSION_ID_PATTERN = /^tv_[a-z2-7]{20}$/;

/** Versions may stack at most this many layers (the overlay mount option has one page). */
export const MAX_TEMPLATE_LAYERS = 40;

export function emptyConfig(): TemplateConfig {
  return { env: {}, labels: {}, exposedPorts: [] };
}

export interface CatalogDeps {
  store: TemplateStore;
  layers: LayerStore;
  /** Template directories `<templatesDir>/<name>/rootfs` (the base image built by the setup scripts). */
  templatesDir: string;
  logger: Logger;
  now?: () => Date;
  /** Host directory of a snapshot version's memory image (snapshot templates add it). */
  snapshotDirOf?: (version: VersionRow) => string | undefined;
}

/** What a sandbox row says about its template. */
export interface TemplateOfSandbox {
  template: string;
  templateVersion?: string;
}

/**
 * Templates, their versions and tags over the template store. A template directory
 * `<templatesDir>/<name>/rootfs` is registered as `<name>:latest` (one external layer), again
 * whenever its template.json changes; the manifest's `config` (start command, user, env, …)
 * becomes the version's config.
 */
export class Catalog implements TemplateCatalog {
  private readonly now: () => Date;

  constructor(private readonly deps: CatalogDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  private get store(): TemplateStore {
    return this.deps.store;
  }

  /** Registers every template directory (at server start). */
  registerDirectories(): void {
    let names: string[] = [];
    try {
      names = readdirSync(this.deps.templatesDir, { withFileTypes: true })
        .filter((d) => d.isDirectory() && !d.name.startsWith(".") && parseTemplateRef(d.name) !== undefined)
        .map((d) => d.name);
    } catch {
      return;
    }
    for (const name of names) this.registerDirectory(name);
  }

  /**
   * Registers `<templatesDir>/<name>/rootfs` as a version of `name` and points `latest` at it,
   * unless a version made from the same template.json exists. Returns that version, if the
   * directory exists.
   */
  registerDirectory(name: string): VersionRow | undefined {
    const rootfs = join(this.deps.templatesDir, name, "rootfs");
    if (!existsSync(rootfs)) return undefined;
    let manifest = "";
    try {
      manifest = readFileSync(join(this.deps.templatesDir, name, "template.json"), "utf8");
    } catch {
      // A directory without template.json: one version for as long as it exists.
    }
    const source = `dir:${createHash("sha256").update(`${rootfs}\0${manifest}`).digest("hex")}`;
    const existing = this.store.versionsOf(name).find((v) => v.source === source);
    if (existing) {
      if (Object.keys(this.store.tagsOf(name)).length === 0) {
        this.store.setTag(name, DEFAULT_TEMPLATE_TAG, existing.id, this.now().toISOString());
      }
      return existing;
    }
    const now = this.now().toISOString();
    const digest = createHash("sha256").update(`external\0${source}`).digest("hex");
    this.store.putLayer({ digest, dir: rootfs, external: true, sizeBytes: 0, createdAt: now });
    const config = directoryConfig(manifest, this.deps.logger, name);
    const version = this.addVersion(name, [digest], config, { source });
    this.store.setTag(name, DEFAULT_TEMPLATE_TAG, version.id, now);
    this.deps.logger.info({ template: name, versionId: version.id }, "template directory registered");
    return version;
  }

  /** Writes a new version (layers bottom first) and its template row; tags are the caller's. */
  addVersion(
    name: string,
    layers: string[],
    config: TemplateConfig,
    extra: { source?: string; snapshot?: TemplateVersionInfo["snapshot"]; id?: string } = {},
  ): VersionRow {
    const now = this.now().toISOString();
    const sizeBytes = layers.reduce((sum, d) => sum + (this.store.layer(d)?.sizeBytes ?? 0), 0);
    const row: VersionRow = {
      id: extra.id ?? newTemplateVersionId(),
      templateName: name,
      layers,
      config,
      source: extra.source ?? null,
      sizeBytes,
      createdAt: now,
      ...(extra.snapshot === undefined ? {} : { snapshot: extra.snapshot }),
    };
    this.store.ensureTemplate(name, now);
    this.store.insertVersion(row);
    return row;
  }

  resolve(ref: string): ResolvedTemplate {
    if (TEMPLATE_VERSION_ID_PATTERN.test(ref)) {
      const v = this.version(ref);
      if (v) return v;
      throw this.notFound(ref);
    }
    const parsed = parseTemplateRef(ref);
    if (!parsed) {
      throw new BurrowError(
        ErrorCode.ValidationFailed,
        `template '${ref}' is not a valid name[:tag] (names: lower-case letters, digits, '.', '_', '-'; tags also upper-case)`,
        { details: { field: "template", template: ref } },
      );
    }
    let id = this.store.tagTarget(parsed.name, parsed.tag);
    // A template directory made after the server started.
    if (id === undefined && parsed.tag === DEFAULT_TEMPLATE_TAG && this.store.template(parsed.name) === undefined) {
      id = this.registerDirectory(parsed.name)?.id;
    }
    const resolved = id === undefined ? undefined : this.version(id);
    if (!resolved) throw this.notFound(ref);
    return resolved;
  }

  version(versionId: string): ResolvedTemplate | undefined {
    const v = this.store.version(versionId);
    if (!v) return undefined;
    const layerDirs: string[] = [];
    for (const digest of [...v.layers].reverse()) {
      const layer = this.store.layer(digest);
      if (!layer) return undefined;
      layerDirs.push(layer.dir);
    }
    const resolved: ResolvedTemplate = { versionId: v.id, templateName: v.templateName, layerDirs, config: v.config };
    const snapshotDir = this.deps.snapshotDirOf?.(v);
    if (snapshotDir !== undefined) resolved.snapshotImageDir = snapshotDir;
    if (v.snapshot?.resources !== undefined) resolved.snapshotResources = v.snapshot.resources;
    return resolved;
  }

  /**
   * The layer directories (top first) of a sandbox's template: its version's, or for a sandbox of
   * a release before versions, its template directory's rootfs.
   */
  layersOf(sandbox: TemplateOfSandbox): string[] {
    if (sandbox.templateVersion !== undefined) {
      const v = this.version(sandbox.templateVersion);
      if (v) return v.layerDirs;
    }
    return [join(this.deps.templatesDir, sandbox.template, "rootfs")];
  }

  list(): TemplateInfo[] {
    return this.store
      .templateNames()
      .map((n) => this.get(n))
      .filter((t): t is TemplateInfo => t !== undefined);
  }

  get(name: string): TemplateInfo | undefined {
    const t = this.store.template(name);
    if (!t) return undefined;
    const tags = this.store.tagsOf(name);
    return {
      name,
      tags,
      versions: this.store.versionsOf(name).map((v) => this.versionInfo(v, tags)),
      createdAt: t.createdAt,
      updatedAt: t.updatedAt,
    };
  }

  versionInfo(v: VersionRow, tags = this.store.tagsOf(v.templateName)): TemplateVersionInfo {
    const info: TemplateVersionInfo = {
      id: v.id,
      templateName: v.templateName,
      tags: Object.entries(tags)
        .filter(([, id]) => id === v.id)
        .map(([tag]) => tag),
      layers: v.layers,
      config: v.config,
      sizeBytes: v.sizeBytes,
      createdAt: v.createdAt,
    };
    if (v.snapshot !== undefined) info.snapshot = v.snapshot;
    return info;
  }

  tag(name: string, tag: string, versionId: string): void {
    if (parseTemplateRef(`${name}:${tag}`) === undefined) {
      throw new BurrowError(ErrorCode.ValidationFailed, `'${name}:${tag}' is not a valid name:tag`, {
        details: { field: "tag", name, tag },
      });
    }
    const v = this.store.version(versionId);
    if (!v || v.templateName !== name) {
      throw new BurrowError(ErrorCode.TemplateNotFound, `template ${name} has no version ${versionId}`, {
        details: { template: name, versionId },
      });
    }
    this.store.setTag(name, tag, versionId, this.now().toISOString());
  }

  untag(name: string, tag: string): boolean {
    return this.store.removeTag(name, tag);
  }

  async remove(name: string, versionId?: string): Promise<boolean> {
    const versions = this.store.versionsOf(name);
    const doomed = versionId === undefined ? versions : versions.filter((v) => v.id === versionId);
    if (doomed.length === 0 && (versionId !== undefined || this.store.template(name) === undefined)) return false;
    const users = this.store.sandboxesUsing(doomed.map((v) => v.id));
    if (users.length > 0) {
      throw new BurrowError(
        ErrorCode.Conflict,
        `template ${versionId ?? name} is used by sandbox${users.length > 1 ? "es" : ""} ${users.join(", ")}; delete ${users.length > 1 ? "them" : "it"} first`,
        { details: { template: name, versionId, sandboxes: users } },
      );
    }
    if (versionId === undefined) this.store.deleteTemplate(name);
    else this.store.deleteVersion(versionId);
    await this.deps.layers.collect();
    return true;
  }

  private notFound(ref: string): BurrowError {
    const available = this.store.templateNames();
    return new BurrowError(
      ErrorCode.TemplateNotFound,
      `template '${ref}' not found; available: ${available.length ? available.join(", ") : "none (run npm start to build 'base')"}`,
      { details: { template: ref, available } },
    );
  }
}

export function newTemplateVersionId(): string {
  return prefixedId("tv", (n) => randomBytes(n));
}
