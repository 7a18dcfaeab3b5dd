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

/** Templates, versions, tags, layers, builds and build logs in SQLite. */
export class TemplateStore {
  constructor(private readonly db: Db) {}

  // Layers

  putLayer(layer: LayerRow): void {
    this.db
      .prepare(
        `INSERT INTO template_layers (digest, dir, external, size_bytes, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (digest) DO UPDATE SET dir = excluded.dir, external = excluded.external, size_bytes = excluded.size_bytes`,
      )
      .run(layer.digest, layer.dir, layer.external ? 1 : 0, layer.sizeBytes, layer.createdAt);
  }

  layer(digest: string): LayerRow | undefined {
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

  layerByDir(dir: string): string | undefined {
    return this.db.prepare("SELECT digest FROM template_layers WHERE dir = ?").pluck().get(dir) as string | undefined;
  }

  deleteLayer(digest: string): void {
    this.db.prepare("DELETE FROM template_layers WHERE digest = ?").run(digest);
  }

  /** Layers of the store (not external) that no version lists. */
  unusedLayers(): LayerRow[] {
    const digests = this.db
      .prepare(
        `SELECT digest FROM template_layers WHERE external = 0 AND digest NOT IN
           (SELECT DISTINCT j.value FROM template_versions v, json_each(v.layers) j)`,
      )
      .pluck()
      .all() as string[];
    return digests.map((d) => this.layer(d)).filter((l): l is LayerRow => l !== undefined);
  }

  // Templates, versions, tags

  ensureTemplate(name: string, now: string): void {
    this.db
      .prepare(
        `INSERT INTO templates (name, created_at, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET updated_at = excluded.updated_at`,
      )
      .run(name, now, now);
  }

  templateNames(): string[] {
    return this.db.prepare("SELECT name FROM templates ORDER BY name").pluck().all() as string[];
  }

  template(name: string): { name: string; createdAt: string; updatedAt: string } | undefined {
    const row = this.db.prepare("SELECT * FROM templates WHERE name = ?").get(name) as
      | { name: string; created_at: string; updated_at: string }
      | undefined;
    return row ? { name: row.name, createdAt: row.created_at, updatedAt: row.updated_at } : undefined;
  }

  deleteTemplate(name: string): void {
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM template_tags WHERE template_name = ?").run(name);
      this.db.prepare("DELETE FROM template_versions WHERE template_name = ?").run(name);
      this.db.prepare("DELETE FROM templates WHERE name = ?").run(name);
    })();
  }

  insertVersion(v: VersionRow): void {
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

  version(id: string): VersionRow | undefined {
    const row = this.db.prepare("SELECT * FROM template_versions WHERE id = ?").get(id) as VersionDbRow | undefined;
    return row ? versionFromRow(row) : undefined;
  }

  /** A template's versions, oldest first. */
  versionsOf(name: string): VersionRow[] {
    const rows = this.db
      .prepare("SELECT * FROM template_versions WHERE template_name = ? ORDER BY created_at, rowid")
      .all(name) as VersionDbRow[];
    return rows.map(versionFromRow);
  }

  deleteVersion(id: string): void {
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM template_tags WHERE version_id = ?").run(id);
      this.db.prepare("DELETE FROM template_versions WHERE id = ?").run(id);
    })();
  }

  setTag(name: string, tag: string, versionId: string, now: string): void {
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO template_tags (template_name, tag, version_id) VALUES (?, ?, ?)
           ON CONFLICT (template_name, tag) DO UPDATE SET version_id = excluded.version_id`,
        )
        .run(name, tag, versionId);
      this.ensureTemplate(name, now);
    })();
  }

  removeTag(name: string, tag: string): boolean {
    return this.db.prepare("DELETE FROM template_tags WHERE template_name = ? AND tag = ?").run(name, tag).changes > 0;
  }

  tagsOf(name: string): Record<string, string> {
    const rows = this.db
      .prepare("SELECT tag, version_id FROM template_tags WHERE template_name = ? ORDER BY tag")
      .all(name) as { tag: string; version_id: string }[];
    return Object.fromEntries(rows.map((r) => [r.tag, r.version_id]));
  }

  tagTarget(name: string, tag: string): string | undefined {
    return this.db
      .prepare("SELECT version_id FROM template_tags WHERE template_name = ? AND tag = ?")
      .pluck()
      .get(name, tag) as string | undefined;
  }

  /** Sandboxes not deleted that were created from one of `versionIds`. */
  sandboxesUsing(versionIds: string[]): string[] {
    if (versionIds.length === 0) return [];
    const marks = versionIds.map(() => "?").join(", ");
    return this.db
      .prepare(`SELECT id FROM sandboxes WHERE state != 'deleted' AND template_version IN (${marks}) ORDER BY id`)
      .pluck()
      .all(...versionIds) as string[];
  }

  // Builds and their logs

  insertBuild(b: TemplateBuildInfo, request: unknown): void {
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

  updateBuild(b: TemplateBuildInfo): void {
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

  build(id: string): TemplateBuildInfo | undefined {
    const row = this.db.prepare("SELECT * FROM template_builds WHERE id = ?").get(id) as BuildDbRow | undefined;
    return row ? buildFromRow(row) : undefined;
  }

  /** Builds a server stop left waiting or building: they are failed at start. */
  unfinishedBuilds(): TemplateBuildInfo[] {
    const rows = this.db
      .prepare("SELECT * FROM template_builds WHERE status IN ('waiting', 'building')")
      .all() as BuildDbRow[];
    return rows.map(buildFromRow);
  }

  appendLog(buildId: string, entry: TemplateBuildLogEntry): void {
    this.db
      .prepare(
        `INSERT INTO template_build_logs (build_id, seq, at, level, message, step)
         VALUES (?, (SELECT COALESCE(MAX(seq) + 1, 0) FROM template_build_logs WHERE build_id = ?), ?, ?, ?, ?)`,
      )
      .run(buildId, buildId, entry.at, entry.level, entry.message, entry.step ?? null);
  }

  logs(buildId: string, offset = 0, limit = 1000): TemplateBuildLogEntry[] {
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
