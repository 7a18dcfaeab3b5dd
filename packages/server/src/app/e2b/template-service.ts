import { randomBytes, randomUUID } from "node:crypto";
import { BurrowError, ErrorCode, type TemplateBuildRequest } from "@burrow/core";
import type { TemplateBuilds, TemplateCatalog, TemplateContexts } from "../../templates/contract.js";
import {
  type E2bBuildStart,
  type E2bBuildStatus,
  e2bBase,
  toE2bBuildStatus,
  translateE2bSteps,
} from "./template-wire.js";

export interface E2bTemplateDeps {
  catalog: TemplateCatalog;
  builds: TemplateBuilds;
  contexts: TemplateContexts;
  now?: () => number;
}

/** An E2B build: requested by `POST /v3/templates`, started by `POST /v2/.../builds/{id}`. */
interface E2bBuild {
  buildID: string;
  templateID: string;
  tags: string[];
  /** Burrow's build once started. */
  burrowBuildId?: string;
  origins: number[];
}

const HASH = /^[0-9a-f]{64}$/;
/** How long an upload link the files endpoint hands out stays valid. */
const UPLOAD_LINK_MS = 60 * 60 * 1000;
/** Requested builds kept (oldest dropped first). */
const MAX_BUILDS = 1000;

/**
 * The E2B template builder's state over Burrow's template services. E2B ids: a template's id is
 * its Burrow name; a build id is a UUID this service hands out and maps to Burrow's build. COPY
 * files are named by the SDK's files hash, mapped to the archive the SDK uploaded (stored in the
 * build contexts by the sha256 of its bytes). This state is in memory: after a server restart the
 * SDK uploads a COPY's files again, and builds requested before it are unknown.
 */
export class E2bTemplates {
  private readonly builds = new Map<string, E2bBuild>();
  private readonly files = new Map<string, string>();
  private readonly uploads = new Map<string, { filesHash: string; expires: number }>();
  private readonly now: () => number;

  constructor(private readonly deps: E2bTemplateDeps) {
    this.now = deps.now ?? Date.now;
  }

  request(name: string, tags: string[]): E2bBuild {
    const build: E2bBuild = { buildID: randomUUID(), templateID: name, tags, origins: [] };
    this.builds.set(build.buildID, build);
    while (this.builds.size > MAX_BUILDS) {
      const oldest = this.builds.keys().next().value;
      if (oldest === undefined) break;
      this.builds.delete(oldest);
    }
    return build;
  }

  private build(templateID: string, buildID: string): E2bBuild {
    const build = this.builds.get(buildID);
    if (!build || build.templateID !== templateID) {
      throw new BurrowError(ErrorCode.TemplateBuildNotFound, `build ${buildID} of template ${templateID} not found`, {
        details: { templateID, buildID },
      });
    }
    return build;
  }

  /** The archive stored for a COPY's files hash, if its upload arrived and is still kept. */
  contextOf(filesHash: string): string | undefined {
    const hash = this.files.get(filesHash);
    return hash !== undefined && this.deps.contexts.has(hash) ? hash : undefined;
  }

  /** Whether a COPY's files are here; if not, a one-hour token for the upload link. */
  fileStatus(filesHash: string): { present: true } | { present: false; token: string } {
    if (!HASH.test(filesHash)) {
      throw new BurrowError(ErrorCode.ValidationFailed, "the files hash must be 64 lower-case hex digits", {
        details: { field: "hash" },
      });
    }
    if (this.contextOf(filesHash) !== undefined) return { present: true };
    const token = randomBytes(24).toString("hex");
    const now = this.now();
    for (const [t, u] of this.uploads) if (u.expires <= now) this.uploads.delete(t);
    this.uploads.set(token, { filesHash, expires: now + UPLOAD_LINK_MS });
    return { present: false, token };
  }

  /** Stores an upload made with a link `fileStatus` handed out (the token is used up). */
  async upload(filesHash: string, token: string, body: AsyncIterable<Uint8Array>): Promise<void> {
    const link = this.uploads.get(token);
    if (!link || link.filesHash !== filesHash || link.expires <= this.now()) {
      throw new BurrowError(ErrorCode.Unauthorized, "the upload link is not valid (or has expired)");
    }
    this.uploads.delete(token);
    const hash = await this.deps.contexts.put(body);
    this.files.set(filesHash, hash);
  }

  /** Starts a requested build with the SDK's steps. */
  async start(templateID: string, buildID: string, body: E2bBuildStart): Promise<void> {
    const build = this.build(templateID, buildID);
    if (build.burrowBuildId !== undefined) {
      throw new BurrowError(ErrorCode.Conflict, `build ${buildID} was started already`, { details: { buildID } });
    }
    const from = e2bBase(body);
    const baseUser =
      "template" in from ? ((await this.deps.catalog.resolve(from.template)).config.user ?? "root") : "root";
    const translated = translateE2bSteps(body, baseUser, (h) => this.contextOf(h));
    const [tag, ...extra] = build.tags;
    const request: TemplateBuildRequest = {
      name: `${templateID}:${tag ?? "latest"}`,
      from,
      steps: translated.steps,
    };
    if (extra.length > 0) request.tags = extra;
    if (translated.start) request.start = translated.start;
    if (translated.force) request.force = true;
    const info = await this.deps.builds.start(request);
    build.burrowBuildId = info.id;
    build.origins = translated.origins;
  }

  async status(
    templateID: string,
    buildID: string,
    logsOffset: number,
    limit: number | undefined,
  ): Promise<E2bBuildStatus> {
    const build = this.build(templateID, buildID);
    const ids = { buildID, templateID };
    if (build.burrowBuildId === undefined) return toE2bBuildStatus(ids, undefined, [], []);
    const info = await this.deps.builds.get(build.burrowBuildId);
    const logs = await this.deps.builds.logs(build.burrowBuildId, logsOffset);
    return toE2bBuildStatus(ids, info, limit === undefined ? logs : logs.slice(0, limit), build.origins);
  }

  /** The E2B build id of the build that made a version (the version id when not made here). */
  async buildIdOf(versionId: string): Promise<string> {
    return (await this.buildIds())(versionId);
  }

  /** buildIdOf for many versions: the builds are read once. */
  async buildIds(): Promise<(versionId: string) => string> {
    const byVersion = new Map<string, string>();
    for (const b of this.builds.values()) {
      if (b.burrowBuildId === undefined) continue;
      const versionId = (await this.deps.builds.get(b.burrowBuildId))?.versionId;
      if (versionId !== undefined && !byVersion.has(versionId)) byVersion.set(versionId, b.buildID);
    }
    return (versionId) => byVersion.get(versionId) ?? versionId;
  }
}
