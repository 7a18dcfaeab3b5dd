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
import { KeyedMutex } from "../services/keyed-mutex.js";
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
  /** One registration of a template directory at a time per name (its check-then-add spans awaits). */
  private readonly registering = new KeyedMutex();

  constructor(private readonly deps: CatalogDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  private get store(): TemplateStore {
    return this.deps.store;
  }

  /** Registers every template directory (at server start). */
  async registerDirectories(): Promise<void> {
    let names: string[] = [];
    try {
      names = readdirSync(this.deps.templatesDir, { withFileTypes: true })
        .filter((d) => d.isDirectory() && !d.name.startsWith(".") && parseTemplateRef(d.name) !== undefined)
        .map((d) => d.name);
    } catch {
      return;
    }
    for (const name of names) await this.registerDirectory(name);
  }

  /**
   * Registers `<templatesDir>/<name>/rootfs` as a version of `name` and points `latest` at it,
   * unless a version made from the same template.json exists. Returns that version, if the
   * directory exists.
   */
  registerDirectory(name: string): Promise<VersionRow | undefined> {
    return this.registering.run(name, () => this.registerDirectoryNow(name));
  }

  private async registerDirectoryNow(name: string): Promise<VersionRow | undefined> {
    const rootfs = join(this.deps.templatesDir, name, "rootfs");
    if (!existsSync(rootfs)) return undefined;
    let manifest = "";
    try {
      manifest = readFileSync(join(this.deps.templatesDir, name, "template.json"), "utf8");
    } catch {
      // A directory without template.json: one version for as long as it exists.
    }
    const source = `dir:${createHash("sha256").update(`${rootfs}\0${manifest}`).digest("hex")}`;
    const existing = (await this.store.versionsOf(name)).find((v) => v.source === source);
    if (existing) {
      await this.store.setTagIfUntagged(name, DEFAULT_TEMPLATE_TAG, existing.id, this.now().toISOString());
      return existing;
    }
    const now = this.now().toISOString();
    const digest = createHash("sha256").update(`external\0${source}`).digest("hex");
    await this.store.putLayer({ digest, dir: rootfs, external: true, sizeBytes: 0, createdAt: now });
    const config = directoryConfig(manifest, this.deps.logger, name);
    const version = await this.addVersion(name, [digest], config, { source });
    await this.store.setTag(name, DEFAULT_TEMPLATE_TAG, version.id, now);
    this.deps.logger.info({ template: name, versionId: version.id }, "template directory registered");
    return version;
  }

  /** Writes a new version (layers bottom first) and its template row; tags are the caller's. */
  async addVersion(
    name: string,
    layers: string[],
    config: TemplateConfig,
    extra: { source?: string; snapshot?: TemplateVersionInfo["snapshot"]; id?: string } = {},
  ): Promise<VersionRow> {
    const now = this.now().toISOString();
    let sizeBytes = 0;
    for (const d of layers) sizeBytes += (await this.store.layer(d))?.sizeBytes ?? 0;
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
    await this.store.ensureTemplate(name, now);
    await this.store.insertVersion(row);
    return row;
  }

  async resolve(ref: string): Promise<ResolvedTemplate> {
    if (TEMPLATE_VERSION_ID_PATTERN.test(ref)) {
      const v = await this.version(ref);
      if (v) return v;
      throw await this.notFound(ref);
    }
    const parsed = parseTemplateRef(ref);
    if (!parsed) {
      throw new BurrowError(
        ErrorCode.ValidationFailed,
        `template '${ref}' is not a valid name[:tag] (names: lower-case letters, digits, '.', '_', '-'; tags also upper-case)`,
        { details: { field: "template", template: ref } },
      );
    }
    let id = await this.store.tagTarget(parsed.name, parsed.tag);
    // A template directory made after the server started.
    if (
      id === undefined &&
      parsed.tag === DEFAULT_TEMPLATE_TAG &&
      (await this.store.template(parsed.name)) === undefined
    ) {
      id = (await this.registerDirectory(parsed.name))?.id;
    }
    const resolved = id === undefined ? undefined : await this.version(id);
    if (!resolved) throw await this.notFound(ref);
    return resolved;
  }

  async version(versionId: string): Promise<ResolvedTemplate | undefined> {
    const v = await this.store.version(versionId);
    if (!v) return undefined;
    const layerDirs: string[] = [];
    for (const digest of [...v.layers].reverse()) {
      const layer = await this.store.layer(digest);
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
  async layersOf(sandbox: TemplateOfSandbox): Promise<string[]> {
    if (sandbox.templateVersion !== undefined) {
      const v = await this.version(sandbox.templateVersion);
      if (v) return v.layerDirs;
    }
    return [join(this.deps.templatesDir, sandbox.template, "rootfs")];
  }

  async list(): Promise<TemplateInfo[]> {
    const infos: TemplateInfo[] = [];
    for (const name of await this.store.templateNames()) {
      const info = await this.get(name);
      if (info !== undefined) infos.push(info);
    }
    return infos;
  }

  async get(name: string): Promise<TemplateInfo | undefined> {
    const t = await this.store.template(name);
    if (!t) return undefined;
    const tags = await this.store.tagsOf(name);
    return {
      name,
      tags,
      versions: (await this.store.versionsOf(name)).map((v) => this.versionInfo(v, tags)),
      createdAt: t.createdAt,
      updatedAt: t.updatedAt,
    };
  }

  /** A version as the API shows it; `tags` are its template's (tagsOf). */
  versionInfo(v: VersionRow, tags: Record<string, string>): TemplateVersionInfo {
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

  async tag(name: string, tag: string, versionId: string): Promise<void> {
    if (parseTemplateRef(`${name}:${tag}`) === undefined) {
      throw new BurrowError(ErrorCode.ValidationFailed, `'${name}:${tag}' is not a valid name:tag`, {
        details: { field: "tag", name, tag },
      });
    }
    const v = await this.store.version(versionId);
    if (!v || v.templateName !== name) {
      throw new BurrowError(ErrorCode.TemplateNotFound, `template ${name} has no version ${versionId}`, {
        details: { template: name, versionId },
      });
    }
    await this.store.setTag(name, tag, versionId, this.now().toISOString());
  }

  untag(name: string, tag: string): Promise<boolean> {
    return this.store.removeTag(name, tag);
  }

  async remove(name: string, versionId?: string): Promise<boolean> {
    // The check for sandboxes using it and the delete are one store transaction.
    const { removed, users } = await this.store.removeUnused(name, versionId);
    if (users.length > 0) {
      throw new BurrowError(
        ErrorCode.Conflict,
        `template ${versionId ?? name} is used by sandbox${users.length > 1 ? "es" : ""} ${users.join(", ")}; delete ${users.length > 1 ? "them" : "it"} first`,
        { details: { template: name, versionId, sandboxes: users } },
      );
    }
    if (!removed) return false;
    await this.deps.layers.collect();
    return true;
  }

  private async notFound(ref: string): Promise<BurrowError> {
    const available = await this.store.templateNames();
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
