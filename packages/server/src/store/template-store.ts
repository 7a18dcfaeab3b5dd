import type {
  TemplateBuildInfo,
  TemplateBuildLogEntry,
  TemplateBuildStatus,
  TemplateConfig,
  TemplateVersionInfo,
} from "@burrow/core";
import type { Db } from "./db.js";

/** A read-only layer on the host: a directory of the layer store, or one the server does not own. */
export interface LayerRow {
  digest: string;
  /** Absolute host path. */
  dir: string;
  /** A directory the server did not make (a template directory's rootfs): never removed by GC. */
  external: boolean;
  sizeBytes: number;
  createdAt: string;
}

export interface VersionRow {
  id: string;
  templateName: string;
  /** Layer digests, bottom first. */
  layers: string[];
  config: TemplateConfig;
  snapshot?: TemplateVersionInfo["snapshot"];
  /** What made it, when it matters for re-registration (a template directory's template.json hash). */
  source: string | null;
  sizeBytes: number;
  createdAt: string;
}

interface VersionDbRow {
  id: string;
  template_name: string;
  layers: string;
  config: string;
  snapshot: string | null;
  source: string | null;
  size_bytes: number;
  created_at: string;
}

function versionFromRow(row: VersionDbRow): VersionRow {
  const v: VersionRow = {
    id: row.id,
    templateName: row.template_name,
    layers: JSON.parse(row.layers) as string[],
    config: JSON.parse(row.config) as TemplateConfig,
    source: row.source,
    sizeBytes: row.size_bytes,
    createdAt: row.created_at,
  };
  if (row.snapshot !== null) v.snapshot = JSON.parse(row.snapshot) as NonNullable<VersionRow["snapshot"]>;
  return v;
}

interface BuildDbRow {
  id: string;
  template_name: string;
  version_id: string;
  status: string;
  request: string;
  steps_total: number;
  steps_done: number;
  cache_hits: number;
  error: string | null;
  started_at: string;
  finished_at: string | null;
}

function buildFromRow(row: BuildDbRow): TemplateBuildInfo {
  const info: TemplateBuildInfo = {
    id: row.id,
    templateName: row.template_name,
    versionId: row.version_id,
    status: row.status as TemplateBuildStatus,
    stepsTotal: row.steps_total,
    stepsDone: row.steps_done,
    cacheHits: row.cache_hits,
    startedAt: row.started_at,
  };
  if (row.error !== null) info.error = JSON.parse(row.error) as NonNullable<TemplateBuildInfo["error"]>;
  if (row.finished_at !== null) info.finishedAt = row.finished_at;
  return info;
}

/** Templates, versions, tags, layers, builds and build logs. */
export interface TemplateStore {
  putLayer(layer: LayerRow): Promise<void>;
  layer(digest: string): Promise<LayerRow | undefined>;
  layerByDir(dir: string): Promise<string | undefined>;
  deleteLayer(digest: string): Promise<void>;
  /** Layers of the store (not external) that no version lists. */
  unusedLayers(): Promise<LayerRow[]>;
  ensureTemplate(name: string, now: string): Promise<void>;
  templateNames(): Promise<string[]>;
  template(name: string): Promise<{ name: string; createdAt: string; updatedAt: string } | undefined>;
  /** Deletes the template, its versions and tags in one transaction. */
  deleteTemplate(name: string): Promise<void>;
  insertVersion(v: VersionRow): Promise<void>;
  version(id: string): Promise<VersionRow | undefined>;
  /** A template's versions, oldest first. */
  versionsOf(name: string): Promise<VersionRow[]>;
  /** Deletes a version and the tags on it in one transaction. */
  deleteVersion(id: string): Promise<void>;
  /** Points a tag at a version and makes sure the template exists, in one transaction. */
  setTag(name: string, tag: string, versionId: string, now: string): Promise<void>;
  /**
   * Sets the tag only when the template has no tags yet, in one transaction; true when it did.
   */
  setTagIfUntagged(name: string, tag: string, versionId: string, now: string): Promise<boolean>;
  removeTag(name: string, tag: string): Promise<boolean>;
  tagsOf(name: string): Promise<Record<string, string>>;
  tagTarget(name: string, tag: string): Promise<string | undefined>;
  /** Sandboxes not deleted that were created from one of `versionIds`. */
  sandboxesUsing(versionIds: string[]): Promise<string[]>;
  /**
   * Deletes a template (every version; `versionId` undefined) or one version of it, unless a
   * sandbox not deleted uses one of them: then nothing is deleted and `users` names them. The
   * check and the delete are one transaction. `removed` is false when there was nothing to delete.
   */
  removeUnused(name: string, versionId: string | undefined): Promise<{ removed: boolean; users: string[] }>;
  insertBuild(b: TemplateBuildInfo, request: unknown): Promise<void>;
  updateBuild(b: TemplateBuildInfo): Promise<void>;
  build(id: string): Promise<TemplateBuildInfo | undefined>;
  /** Builds a server stop left waiting or building. */
  unfinishedBuilds(): Promise<TemplateBuildInfo[]>;
  /** Appends a log line after the build's last (the sequence number is taken in the same statement). */
  appendLog(buildId: string, entry: TemplateBuildLogEntry): Promise<void>;
  logs(buildId: string, offset?: number, limit?: number): Promise<TemplateBuildLogEntry[]>;
}

/** Templates, versions, tags, layers, builds and build logs in SQLite. */
export class SqliteTemplateStore implements TemplateStore {
  constructor(private readonly db: Db) {}

  // Layers

  async putLayer(layer: LayerRow): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO template_layers (digest, dir, external, size_bytes, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (digest) DO UPDATE SET dir = excluded.dir, external = excluded.external, size_bytes = excluded.size_bytes`,
      )
      .run(layer.digest, layer.dir, layer.external ? 1 : 0, layer.sizeBytes, layer.createdAt);
  }

  async layer(digest: string): Promise<LayerRow | undefined> {
    return this.layerSync(digest);
  }

  private layerSync(digest: string): LayerRow | undefined {
    const row = this.db.prepare("SELECT * FROM template_layers WHERE digest = ?").get(digest) as
      | { digest: string; dir: string; external: number; size_bytes: number; created_at: string }
      | undefined;
    return row
      ? {
          digest: row.digest,
          dir: row.dir,
          external: row.external === 1,
          sizeBytes: row.size_bytes,
          createdAt: row.created_at,
        }
      : undefined;
  }

  async layerByDir(dir: string): Promise<string | undefined> {
    return this.db.prepare("SELECT digest FROM template_layers WHERE dir = ?").pluck().get(dir) as string | undefined;
  }

  async deleteLayer(digest: string): Promise<void> {
    this.db.prepare("DELETE FROM template_layers WHERE digest = ?").run(digest);
  }

  /** Layers of the store (not external) that no version lists. */
  async unusedLayers(): Promise<LayerRow[]> {
    const digests = this.db
      .prepare(
        `SELECT digest FROM template_layers WHERE external = 0 AND digest NOT IN
           (SELECT DISTINCT j.value FROM template_versions v, json_each(v.layers) j)`,
      )
      .pluck()
      .all() as string[];
    return digests.map((d) => this.layerSync(d)).filter((l): l is LayerRow => l !== undefined);
  }

  // Templates, versions, tags

  async ensureTemplate(name: string, now: string): Promise<void> {
    this.ensureTemplateSync(name, now);
  }

  private ensureTemplateSync(name: string, now: string): void {
    this.db
      .prepare(
        `INSERT INTO templates (name, created_at, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET updated_at = excluded.updated_at`,
      )
      .run(name, now, now);
  }

  async templateNames(): Promise<string[]> {
    return this.db.prepare("SELECT name FROM templates ORDER BY name").pluck().all() as string[];
  }

  async template(name: string): Promise<{ name: string; createdAt: string; updatedAt: string } | undefined> {
    const row = this.db.prepare("SELECT * FROM templates WHERE name = ?").get(name) as
      | { name: string; created_at: string; updated_at: string }
      | undefined;
    return row ? { name: row.name, createdAt: row.created_at, updatedAt: row.updated_at } : undefined;
  }

  async deleteTemplate(name: string): Promise<void> {
    this.db.transaction(() => this.deleteTemplateSync(name))();
  }

  private deleteTemplateSync(name: string): void {
    this.db.prepare("DELETE FROM template_tags WHERE template_name = ?").run(name);
    this.db.prepare("DELETE FROM template_versions WHERE template_name = ?").run(name);
    this.db.prepare("DELETE FROM templates WHERE name = ?").run(name);
  }

  async insertVersion(v: VersionRow): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO template_versions (id, template_name, layers, config, snapshot, source, size_bytes, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        v.id,
        v.templateName,
        JSON.stringify(v.layers),
        JSON.stringify(v.config),
        v.snapshot === undefined ? null : JSON.stringify(v.snapshot),
        v.source,
        v.sizeBytes,
        v.createdAt,
      );
  }

  async version(id: string): Promise<VersionRow | undefined> {
    const row = this.db.prepare("SELECT * FROM template_versions WHERE id = ?").get(id) as VersionDbRow | undefined;
    return row ? versionFromRow(row) : undefined;
  }

  /** A template's versions, oldest first. */
  async versionsOf(name: string): Promise<VersionRow[]> {
    const rows = this.db
      .prepare("SELECT * FROM template_versions WHERE template_name = ? ORDER BY created_at, rowid")
      .all(name) as VersionDbRow[];
    return rows.map(versionFromRow);
  }

  async deleteVersion(id: string): Promise<void> {
    this.db.transaction(() => this.deleteVersionSync(id))();
  }

  private deleteVersionSync(id: string): void {
    this.db.prepare("DELETE FROM template_tags WHERE version_id = ?").run(id);
    this.db.prepare("DELETE FROM template_versions WHERE id = ?").run(id);
  }

  async setTag(name: string, tag: string, versionId: string, now: string): Promise<void> {
    this.db.transaction(() => this.setTagSync(name, tag, versionId, now))();
  }

  async setTagIfUntagged(name: string, tag: string, versionId: string, now: string): Promise<boolean> {
    return this.db.transaction(() => {
      if (this.db.prepare("SELECT 1 FROM template_tags WHERE template_name = ? LIMIT 1").get(name) !== undefined) {
        return false;
      }
      this.setTagSync(name, tag, versionId, now);
      return true;
    })();
  }

  private setTagSync(name: string, tag: string, versionId: string, now: string): void {
    this.db
      .prepare(
        `INSERT INTO template_tags (template_name, tag, version_id) VALUES (?, ?, ?)
         ON CONFLICT (template_name, tag) DO UPDATE SET version_id = excluded.version_id`,
      )
      .run(name, tag, versionId);
    this.ensureTemplateSync(name, now);
  }

  async removeTag(name: string, tag: string): Promise<boolean> {
    return this.db.prepare("DELETE FROM template_tags WHERE template_name = ? AND tag = ?").run(name, tag).changes > 0;
  }

  async tagsOf(name: string): Promise<Record<string, string>> {
    const rows = this.db
      .prepare("SELECT tag, version_id FROM template_tags WHERE template_name = ? ORDER BY tag")
      .all(name) as { tag: string; version_id: string }[];
    return Object.fromEntries(rows.map((r) => [r.tag, r.version_id]));
  }

  async tagTarget(name: string, tag: string): Promise<string | undefined> {
    return this.db
      .prepare("SELECT version_id FROM template_tags WHERE template_name = ? AND tag = ?")
      .pluck()
      .get(name, tag) as string | undefined;
  }

  /** Sandboxes not deleted that were created from one of `versionIds`. */
  async sandboxesUsing(versionIds: string[]): Promise<string[]> {
    return this.sandboxesUsingSync(versionIds);
  }

  async removeUnused(name: string, versionId: string | undefined): Promise<{ removed: boolean; users: string[] }> {
    return this.db.transaction(() => {
      const ids = this.db
        .prepare("SELECT id FROM template_versions WHERE template_name = ?")
        .pluck()
        .all(name) as string[];
      const doomed = versionId === undefined ? ids : ids.filter((id) => id === versionId);
      const exists = this.db.prepare("SELECT 1 FROM templates WHERE name = ?").get(name) !== undefined;
      if (doomed.length === 0 && (versionId !== undefined || !exists)) return { removed: false, users: [] };
      const users = this.sandboxesUsingSync(doomed);
      if (users.length > 0) return { removed: false, users };
      if (versionId === undefined) this.deleteTemplateSync(name);
      else this.deleteVersionSync(versionId);
      return { removed: true, users: [] };
    })();
  }

  private sandboxesUsingSync(versionIds: string[]): string[] {
    if (versionIds.length === 0) return [];
    const marks = versionIds.map(() => "?").join(", ");
    return this.db
      .prepare(`SELECT id FROM sandboxes WHERE state != 'deleted' AND template_version IN (${marks}) ORDER BY id`)
      .pluck()
      .all(...versionIds) as string[];
  }

  // Builds and their logs

  async insertBuild(b: TemplateBuildInfo, request: unknown): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO template_builds (id, template_name, version_id, status, request, steps_total, steps_done,
           cache_hits, error, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        b.id,
        b.templateName,
        b.versionId,
        b.status,
        JSON.stringify(request),
        b.stepsTotal,
        b.stepsDone,
        b.cacheHits,
        b.error === undefined ? null : JSON.stringify(b.error),
        b.startedAt,
        b.finishedAt ?? null,
      );
  }

  async updateBuild(b: TemplateBuildInfo): Promise<void> {
    this.db
      .prepare(
        `UPDATE template_builds SET status = ?, steps_total = ?, steps_done = ?, cache_hits = ?, error = ?,
           finished_at = ? WHERE id = ?`,
      )
      .run(
        b.status,
        b.stepsTotal,
        b.stepsDone,
        b.cacheHits,
        b.error === undefined ? null : JSON.stringify(b.error),
        b.finishedAt ?? null,
        b.id,
      );
  }

  async build(id: string): Promise<TemplateBuildInfo | undefined> {
    const row = this.db.prepare("SELECT * FROM template_builds WHERE id = ?").get(id) as BuildDbRow | undefined;
    return row ? buildFromRow(row) : undefined;
  }

  /** Builds a server stop left waiting or building: they are failed at start. */
  async unfinishedBuilds(): Promise<TemplateBuildInfo[]> {
    const rows = this.db
      .prepare("SELECT * FROM template_builds WHERE status IN ('waiting', 'building')")
      .all() as BuildDbRow[];
    return rows.map(buildFromRow);
  }

  async appendLog(buildId: string, entry: TemplateBuildLogEntry): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO template_build_logs (build_id, seq, at, level, message, step)
         VALUES (?, (SELECT COALESCE(MAX(seq) + 1, 0) FROM template_build_logs WHERE build_id = ?), ?, ?, ?, ?)`,
      )
      .run(buildId, buildId, entry.at, entry.level, entry.message, entry.step ?? null);
  }

  async logs(buildId: string, offset = 0, limit = 1000): Promise<TemplateBuildLogEntry[]> {
    const rows = this.db
      .prepare(
        "SELECT at, level, message, step FROM template_build_logs WHERE build_id = ? AND seq >= ? ORDER BY seq LIMIT ?",
      )
      .all(buildId, offset, limit) as { at: string; level: string; message: string; step: number | null }[];
    return rows.map((r) => {
      const e: TemplateBuildLogEntry = {
        at: r.at,
        level: r.level as TemplateBuildLogEntry["level"],
        message: r.message,
      };
      if (r.step !== null) e.step = r.step;
      return e;
    });
  }
}
