import { BurrowError, ErrorCode } from "@burrow/core";
import { z } from "zod";
import type { TemplateBuilds, TemplateCatalog, TemplateContexts } from "../templates/contract.js";
import { readJson, sendEmpty, sendJson } from "./http.js";
import type { Router } from "./router.js";
import { parseBody } from "./schemas.js";

export interface TemplateRouteDeps {
  catalog: TemplateCatalog;
  /** Build and context routes are served when given. */
  builds?: TemplateBuilds;
  contexts?: TemplateContexts;
}

const TagSchema = z.object({ versionId: z.string() }).strict();

function templateNotFound(name: string): BurrowError {
  return new BurrowError(ErrorCode.TemplateNotFound, `template ${name} not found`, { details: { template: name } });
}

/** `/v1/templates`: templates, their versions and tags. */
export function registerTemplateRoutes(router: Router, deps: TemplateRouteDeps): void {
  const { catalog } = deps;
  const template = (name: string) => {
    const t = catalog.get(name);
    if (!t) throw templateNotFound(name);
    return t;
  };

  router.add("GET", "/v1/templates", ({ res }) => {
    sendJson(res, 200, { templates: catalog.list() });
  });
  router.add("GET", "/v1/templates/:name", ({ res, params }) => {
    sendJson(res, 200, template(params.name ?? ""));
  });
  router.add("DELETE", "/v1/templates/:name", async ({ res, params }) => {
    const name = params.name ?? "";
    if (!(await catalog.remove(name))) throw templateNotFound(name);
    sendEmpty(res, 204);
  });
  router.add("GET", "/v1/templates/:name/versions/:version", ({ res, params }) => {
    const name = params.name ?? "";
    const version = template(name).versions.find((v) => v.id === params.version);
    if (!version) throw templateNotFound(`${name}@${params.version ?? ""}`);
    sendJson(res, 200, version);
  });
  router.add("DELETE", "/v1/templates/:name/versions/:version", async ({ res, params }) => {
    const name = params.name ?? "";
    const version = params.version ?? "";
    if (!(await catalog.remove(name, version))) throw templateNotFound(`${name}@${version}`);
    sendEmpty(res, 204);
  });
  router.add("PUT", "/v1/templates/:name/tags/:tag", async ({ req, res, params }) => {
    const name = params.name ?? "";
    const { versionId } = parseBody(TagSchema, await readJson(req));
    catalog.tag(name, params.tag ?? "", versionId);
    sendJson(res, 200, template(name));
  });
  router.add("DELETE", "/v1/templates/:name/tags/:tag", ({ res, params }) => {
    const name = params.name ?? "";
    const tag = params.tag ?? "";
    if (!catalog.untag(name, tag)) throw templateNotFound(`${name}:${tag}`);
    sendEmpty(res, 204);
  });
}
