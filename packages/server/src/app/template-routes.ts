import { BurrowError, ErrorCode, type TemplateBuildRequest } from "@burrow/core";
import { z } from "zod";
import type { TemplateBuilds, TemplateCatalog, TemplateContexts } from "../templates/contract.js";
import { parseDockerfile } from "../templates/dockerfile.js";
import type { TemplateExporter } from "../templates/exporter.js";
import type { SnapshotTemplates } from "../templates/snapshots.js";
import { readJson, sendEmpty, sendJson } from "./http.js";
import type { Router } from "./router.js";
import { parseBody } from "./schemas.js";
import { BuildBodySchema, followLogs } from "./template-build-io.js";
import { registerExportRoute } from "./template-export-route.js";

export interface TemplateRouteDeps {
  catalog: TemplateCatalog;
  /** Build and context routes are served when given. */
  builds?: TemplateBuilds;
  contexts?: TemplateContexts;
  /** Snapshot templates (files and memory of a sandbox) are made when given. */
  snapshots?: SnapshotTemplates;
  /** `GET /v1/templates/{name}/export` is served when given. */
  exporter?: TemplateExporter;
}

const FromSandboxSchema = z
  .object({ sandboxId: z.string().min(1).max(64), checkpointId: z.string().min(1).max(64).optional() })
  .strict();

const TagSchema = z.object({ versionId: z.string() }).strict();

function templateNotFound(name: string): BurrowError {
  return new BurrowError(ErrorCode.TemplateNotFound, `template ${name} not found`, { details: { template: name } });
}

/** `/v1/templates`: templates, their versions and tags. */
export function registerTemplateRoutes(router: Router, deps: TemplateRouteDeps): void {
  const { catalog } = deps;
  const template = async (name: string) => {
    const t = await catalog.get(name);
    if (!t) throw templateNotFound(name);
    return t;
  };

  router.add("GET", "/v1/templates", async ({ res }) => {
    sendJson(res, 200, { templates: await catalog.list() });
  });
  router.add("GET", "/v1/templates/:name", async ({ res, params }) => {
    sendJson(res, 200, await template(params.name ?? ""));
  });
  router.add("DELETE", "/v1/templates/:name", async ({ res, params }) => {
    const name = params.name ?? "";
    if (!(await catalog.remove(name))) throw templateNotFound(name);
    await deps.snapshots?.collect();
    sendEmpty(res, 204);
  });
  router.add("GET", "/v1/templates/:name/versions/:version", async ({ res, params }) => {
    const name = params.name ?? "";
    const version = (await template(name)).versions.find((v) => v.id === params.version);
    if (!version) throw templateNotFound(`${name}@${params.version ?? ""}`);
    sendJson(res, 200, version);
  });
  router.add("DELETE", "/v1/templates/:name/versions/:version", async ({ res, params }) => {
    const name = params.name ?? "";
    const version = params.version ?? "";
    if (!(await catalog.remove(name, version))) throw templateNotFound(`${name}@${version}`);
    await deps.snapshots?.collect();
    sendEmpty(res, 204);
  });
  router.add("PUT", "/v1/templates/:name/tags/:tag", async ({ req, res, params }) => {
    const name = params.name ?? "";
    const { versionId } = parseBody(TagSchema, await readJson(req));
    await catalog.tag(name, params.tag ?? "", versionId);
    sendJson(res, 200, await template(name));
  });
  router.add("DELETE", "/v1/templates/:name/tags/:tag", async ({ res, params }) => {
    const name = params.name ?? "";
    const tag = params.tag ?? "";
    if (!(await catalog.untag(name, tag))) throw templateNotFound(`${name}:${tag}`);
    sendEmpty(res, 204);
  });
  if (deps.builds && deps.contexts) registerBuildRoutes(router, deps.builds, deps.contexts);
  if (deps.exporter) registerExportRoute(router, deps.exporter);
  const snapshots = deps.snapshots;
  if (snapshots) {
    // A snapshot template: the sandbox's files and memory (a full checkpoint taken now, or the one named).
    router.add("POST", "/v1/templates/:name/from-sandbox", async ({ req, res, params }) => {
      const body = parseBody(FromSandboxSchema, await readJson(req));
      sendJson(res, 201, await snapshots.fromSandbox(params.name ?? "", body.sandboxId, body.checkpointId));
    });
  }
}

function buildNotFound(id: string): BurrowError {
  return new BurrowError(ErrorCode.TemplateBuildNotFound, `template build ${id} not found`, {
    details: { buildId: id },
  });
}

/** Build contexts, builds, their status and logs. */
function registerBuildRoutes(router: Router, builds: TemplateBuilds, contexts: TemplateContexts): void {
  router.add("POST", "/v1/template-contexts", async ({ req, res, url }) => {
    const expected = url.searchParams.get("hash") ?? undefined;
    const hash = await contexts.put(req, expected);
    sendJson(res, 201, { hash });
  });
  router.add("GET", "/v1/template-contexts/:hash", ({ res, params }) => {
    const hash = params.hash ?? "";
    if (!contexts.has(hash)) {
      throw new BurrowError(ErrorCode.NotFound, `build context ${hash} was not uploaded`, { details: { hash } });
    }
    sendJson(res, 200, { hash });
  });
  router.add("POST", "/v1/templates/:name/builds", async ({ req, res, params }) => {
    const body = parseBody(BuildBodySchema, await readJson(req));
    const name = params.name ?? "";
    let request: TemplateBuildRequest;
    if ("dockerfile" in body) {
      const parsed = parseDockerfile(body.dockerfile, {
        ...(body.contextHash === undefined ? {} : { contextHash: body.contextHash }),
        ...(body.buildArgs === undefined ? {} : { buildArgs: body.buildArgs }),
      });
      request = { name, from: parsed.from, steps: parsed.steps };
      if (parsed.start) request.start = parsed.start;
    } else {
      request = { name, from: body.from, steps: body.steps as TemplateBuildRequest["steps"] };
      if (body.start) request.start = body.start;
    }
    if (body.tags) request.tags = body.tags;
    if (body.buildArgs) request.buildArgs = body.buildArgs;
    if (body.force) request.force = true;
    sendJson(res, 202, await builds.start(request));
  });
  router.add("GET", "/v1/template-builds/:id", async ({ res, params }) => {
    const id = params.id ?? "";
    const build = await builds.get(id);
    if (!build) throw buildNotFound(id);
    sendJson(res, 200, build);
  });
  router.add("GET", "/v1/template-builds/:id/logs", async ({ res, params, url }) => {
    const id = params.id ?? "";
    const build = await builds.get(id);
    if (!build) throw buildNotFound(id);
    const offset = Math.max(0, Number.parseInt(url.searchParams.get("offset") ?? "0", 10) || 0);
    if (url.searchParams.get("follow") === "1" || url.searchParams.get("follow") === "true") {
      await followLogs(res, builds, id, offset);
      return;
    }
    const logs = await builds.logs(id, offset);
    sendJson(res, 200, { build, logs, nextOffset: offset + logs.length });
  });
}
