import type { ServerResponse } from "node:http";
import { BurrowError, ErrorCode, type Logger, parseTemplateRef, type TemplateInfo } from "@burrow/core";
import { z } from "zod";
import type { ApiKeyStore } from "../../store/api-key-store.js";
import type { TemplateCatalog } from "../../templates/contract.js";
import type { SnapshotTemplates } from "../../templates/snapshots.js";
import { readJson, sendJson } from "../http.js";
import type { RouteContext, Router } from "../router.js";
import { parseBody } from "../schemas.js";
import { e2bRouteAdder, intParam } from "./routes.js";
import type { E2bTemplates } from "./template-service.js";
import { E2bBuildRequestSchema, E2bBuildStartSchema, parseE2bTemplateName } from "./template-wire.js";

const AssignTagsSchema = z.object({ target: z.string(), tags: z.array(z.string()).min(1) }).passthrough();
const RemoveTagsSchema = z.object({ name: z.string(), tags: z.array(z.string()).min(1) }).passthrough();

/** An empty answer the SDK's client reads as empty (it parses a body unless told its length is 0). */
function sendNothing(res: ServerResponse, status: number): void {
  res.writeHead(status, { "Content-Length": "0" });
  res.end();
}

function notFound(what: string): BurrowError {
  return new BurrowError(ErrorCode.TemplateNotFound, `template ${what} not found`, { details: { template: what } });
}

/** Where the SDK PUTs a COPY's archive: this server, as the caller reached it. */
function uploadUrl(ctx: RouteContext, templateID: string, hash: string, token: string): string {
  const overTls = "encrypted" in ctx.req.socket && ctx.req.socket.encrypted === true;
  const proto = overTls || ctx.req.headers["x-forwarded-proto"] === "https" ? "https" : "http";
  const host = ctx.req.headers.host ?? "localhost";
  const path = `/templates/${encodeURIComponent(templateID)}/files/${hash}/upload`;
  return `${proto}://${host}${path}?token=${token}`;
}

/** E2B's `Template` shape (list) for a Burrow template. */
function toE2bTemplate(t: TemplateInfo, buildIdOf: (versionId: string) => string) {
  const current = t.tags.latest ?? t.versions.at(-1)?.id ?? "";
  return {
    templateID: t.name,
    buildID: buildIdOf(current),
    buildStatus: "ready",
    aliases: [t.name],
    names: [t.name],
    public: false,
    cpuCount: 0,
    memoryMB: 0,
    diskSizeMB: 0,
    envdVersion: "burrow",
    buildCount: t.versions.length,
    spawnCount: 0,
    lastSpawnedAt: null,
    createdBy: null,
    createdAt: t.createdAt,
    updatedAt: t.updatedAt,
  };
}

/**
 * E2B's template endpoints (the `Template` builder of the e2b SDK): request a build, COPY file
 * uploads, start the build, its status with paged logs, aliases, tags, list/get/delete. A
 * template's E2B id and alias are its Burrow name.
 */
export function registerE2bTemplateRoutes(
  router: Router,
  templates: E2bTemplates,
  catalog: TemplateCatalog,
  keys: ApiKeyStore,
  logger: Logger,
  /** Snapshot templates: their memory images are removed with them. */
  snapshots?: SnapshotTemplates,
): void {
  const add = e2bRouteAdder(router, keys, logger);
  const template = async (id: string) => {
    const t = await catalog.get(id);
    if (!t) throw notFound(id);
    return t;
  };

  add("POST", "/v3/templates", async ({ req, res }) => {
    const { name, tags } = parseE2bTemplateName(parseBody(E2bBuildRequestSchema, await readJson(req)));
    const build = templates.request(name, tags);
    sendJson(res, 202, {
      templateID: name,
      buildID: build.buildID,
      tags,
      names: [name],
      aliases: [name],
      public: false,
    });
  });

  add("GET", "/templates/:id/files/:hash", (ctx) => {
    const id = ctx.params.id ?? "";
    const hash = ctx.params.hash ?? "";
    const status = templates.fileStatus(hash);
    if (status.present) sendJson(ctx.res, 201, { present: true });
    else sendJson(ctx.res, 201, { present: false, url: uploadUrl(ctx, id, hash, status.token) });
  });

  // The SDK PUTs with the link alone (no API key): the link's token is the credential.
  add(
    "PUT",
    "/templates/:id/files/:hash/upload",
    async ({ req, res, params, url }) => {
      await templates.upload(params.hash ?? "", url.searchParams.get("token") ?? "", req);
      sendNothing(res, 200);
    },
    true,
  );

  add("POST", "/v2/templates/:id/builds/:build", async ({ req, res, params }) => {
    const body = parseBody(E2bBuildStartSchema, await readJson(req));
    await templates.start(params.id ?? "", params.build ?? "", body);
    sendNothing(res, 202);
  });

  add("GET", "/templates/:id/builds/:build/status", async ({ res, params, url }) => {
    const offset = intParam(url, "logsOffset") ?? 0;
    sendJson(res, 200, await templates.status(params.id ?? "", params.build ?? "", offset, intParam(url, "limit")));
  });

  add("GET", "/templates/aliases/:alias", async ({ res, params }) => {
    const alias = params.alias ?? "";
    await template(alias);
    sendJson(res, 200, { templateID: alias, public: false });
  });

  add("POST", "/templates/tags", async ({ req, res }) => {
    const body = parseBody(AssignTagsSchema, await readJson(req));
    const target = parseTemplateRef(body.target);
    if (!target) throw new BurrowError(ErrorCode.ValidationFailed, `target '${body.target}' is not name[:tag]`);
    const versionId = (await template(target.name)).tags[target.tag];
    if (versionId === undefined) throw notFound(body.target);
    for (const tag of body.tags) await catalog.tag(target.name, tag, versionId);
    sendJson(res, 201, { buildID: await templates.buildIdOf(versionId), tags: body.tags });
  });

  add("DELETE", "/templates/tags", async ({ req, res }) => {
    const body = parseBody(RemoveTagsSchema, await readJson(req));
    const name = parseTemplateRef(body.name)?.name ?? body.name;
    await template(name);
    for (const tag of body.tags) await catalog.untag(name, tag);
    sendNothing(res, 204);
  });

  add("GET", "/templates/:id/tags", async ({ res, params }) => {
    const t = await template(params.id ?? "");
    const buildIdOf = await templates.buildIds();
    const created = new Map(t.versions.map((v) => [v.id, v.createdAt]));
    sendJson(
      res,
      200,
      Object.entries(t.tags).map(([tag, versionId]) => ({
        tag,
        buildID: buildIdOf(versionId),
        createdAt: created.get(versionId) ?? t.updatedAt,
      })),
    );
  });

  add("GET", "/templates", async ({ res }) => {
    const buildIdOf = await templates.buildIds();
    sendJson(
      res,
      200,
      (await catalog.list()).map((t) => toE2bTemplate(t, buildIdOf)),
    );
  });

  add("GET", "/templates/:id", async ({ res, params }) => {
    const t = await template(params.id ?? "");
    const buildIdOf = await templates.buildIds();
    const { buildID: _b, buildStatus: _s, ...rest } = toE2bTemplate(t, buildIdOf);
    sendJson(res, 200, {
      ...rest,
      builds: t.versions.map((v) => ({
        buildID: buildIdOf(v.id),
        status: "ready",
        cpuCount: 0,
        memoryMB: 0,
        createdAt: v.createdAt,
        updatedAt: v.createdAt,
        finishedAt: v.createdAt,
      })),
    });
  });

  // A template, or (`name:tag`, what E2B's deleteSnapshot sends) the version the tag points at;
  // a template left without versions goes too.
  add("DELETE", "/templates/:id", async ({ res, params }) => {
    const id = params.id ?? "";
    const ref = id.includes(":") ? parseTemplateRef(id) : undefined;
    if (ref) {
      const versionId = (await catalog.get(ref.name))?.tags[ref.tag];
      if (versionId === undefined || !(await catalog.remove(ref.name, versionId))) throw notFound(id);
      if ((await catalog.get(ref.name))?.versions.length === 0) await catalog.remove(ref.name);
    } else if (!(await catalog.remove(id))) throw notFound(id);
    await snapshots?.collect();
    sendNothing(res, 204);
  });
}
