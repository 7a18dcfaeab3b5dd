/** OpenAPI paths and schemas of templates, their versions, tags, builds and build contexts. */
import { error, json, ok, ref } from "./openapi-parts.js";

const param = (name: string, description?: string) => ({
  name,
  in: "path",
  required: true,
  schema: { type: "string" },
  ...(description ? { description } : {}),
});
const name = param("name", "template name: lower-case letters, digits, `.`, `_`, `-`");
const notFound = error("template_not_found");
const stringMap = { type: "object", additionalProperties: { type: "string" } };

export const templateSchemas = {
  TemplateBuild: {
    type: "object",
    required: ["id", "templateName", "versionId", "status", "stepsTotal", "stepsDone", "cacheHits", "startedAt"],
    properties: {
      id: { type: "string" },
      templateName: { type: "string" },
      versionId: { type: "string", description: "the version the build makes (current once ready)" },
      status: { type: "string", enum: ["waiting", "building", "ready", "error"] },
      stepsTotal: { type: "integer", description: "steps that make layers (RUN, COPY)" },
      stepsDone: { type: "integer" },
      cacheHits: { type: "integer" },
      error: {
        type: "object",
        properties: {
          message: { type: "string" },
          step: { type: "integer" },
          exitCode: { type: "integer" },
          logTail: { type: "string" },
        },
      },
      startedAt: { type: "string", format: "date-time" },
      finishedAt: { type: "string", format: "date-time" },
    },
  },
  TemplateConfig: {
    type: "object",
    required: ["env", "labels", "exposedPorts"],
    properties: {
      env: stringMap,
      user: { type: "string" },
      workdir: { type: "string" },
      labels: stringMap,
      exposedPorts: { type: "array", items: { type: "integer" } },
      startCmd: { type: "string" },
      readyCmd: { type: "string" },
      readyPort: { type: "integer" },
      readyTimeoutMs: { type: "integer" },
    },
  },
  TemplateVersion: {
    type: "object",
    required: ["id", "templateName", "tags", "layers", "config", "sizeBytes", "createdAt"],
    properties: {
      id: { type: "string", pattern: "^tv_[a-z2-7]{20}$" },
      templateName: { type: "string" },
      tags: { type: "array", items: { type: "string" } },
      layers: { type: "array", items: { type: "string" }, description: "layer digests, bottom first" },
      config: ref("TemplateConfig"),
      sizeBytes: { type: "integer" },
      createdAt: { type: "string", format: "date-time" },
    },
  },
  Template: {
    type: "object",
    required: ["name", "tags", "versions", "createdAt", "updatedAt"],
    properties: {
      name: { type: "string" },
      tags: { ...stringMap, description: "tag → version id" },
      versions: { type: "array", items: ref("TemplateVersion") },
      createdAt: { type: "string", format: "date-time" },
      updatedAt: { type: "string", format: "date-time" },
    },
  },
};

const buildId = param("id", "a build id (`bld_…`)");

export const templatePaths = {
  "/v1/template-contexts": {
    post: {
      summary: "Upload a build context: a tar archive (optionally gzip-compressed) that COPY steps read",
      parameters: [
        {
          name: "hash",
          in: "query",
          required: false,
          schema: { type: "string", pattern: "^[0-9a-f]{64}$" },
          description: "sha256 of the bytes; the upload is refused when they hash otherwise",
        },
      ],
      requestBody: {
        required: true,
        content: { "application/x-tar": { schema: { type: "string", format: "binary" } } },
      },
      responses: {
        "201": ok("`{hash}`: the sha256 of the uploaded bytes"),
        "400": error("validation_failed: a path or link leaves the archive, a device file, a bad hash"),
        "413": error("payload_too_large"),
      },
    },
  },
  "/v1/template-contexts/{hash}": {
    parameters: [param("hash")],
    get: { summary: "Whether a context was uploaded", responses: { "200": ok("`{hash}`"), "404": error("not_found") } },
  },
  "/v1/templates/{name}/builds": {
    parameters: [param("name", "`name` or `name:tag` (tag default `latest`)")],
    post: {
      summary: "Start a build from Dockerfile text or structured steps; answers at once (202)",
      requestBody: {
        required: true,
        ...json({
          type: "object",
          description:
            "Either `{dockerfile, contextHash?}` or `{from: {template}|{image}, steps: TemplateStep[], start?}`; both take `tags`, `buildArgs`, `force`.",
        }),
      },
      responses: {
        "202": ok("The build", ref("TemplateBuild")),
        "400": error("validation_failed naming the Dockerfile line and instruction, or the field"),
      },
    },
  },
  "/v1/templates/{name}/from-sandbox": {
    parameters: [param("name", "`name` or `name:tag` (tag default `latest`)")],
    post: {
      summary:
        "Make a snapshot template from a running sandbox: its files and memory (a full checkpoint taken now, or `checkpointId`); sandboxes created from it start with its processes running",
      requestBody: {
        required: true,
        ...json({
          type: "object",
          required: ["sandboxId"],
          properties: { sandboxId: { type: "string" }, checkpointId: { type: "string" } },
        }),
      },
      responses: {
        "201": ok("The new version (with `snapshot`)", ref("TemplateVersion")),
        "400": error("validation_failed: a bad name, an fs checkpoint, a fork, a sandbox older than template versions"),
        "404": error("sandbox_not_found or checkpoint_not_found"),
      },
    },
  },
  "/v1/templates/{name}/export": {
    parameters: [name],
    get: {
      summary:
        "The version as an OCI image archive: its files flattened into one layer, env, user, workdir, ports, labels and start command as the image config (a snapshot version: its files, not its memory). Written before the answer starts",
      parameters: [
        { name: "tag", in: "query", schema: { type: "string" }, description: "the tag to export (default `latest`)" },
        { name: "version", in: "query", schema: { type: "string" }, description: "a version id (`tv_…`) instead" },
      ],
      responses: {
        "200": {
          description: "The OCI archive; `X-Burrow-Template-Version` names the version",
          content: { "application/x-tar": { schema: { type: "string", format: "binary" } } },
        },
        "404": notFound,
      },
    },
  },
  "/v1/template-builds/{id}": {
    parameters: [buildId],
    get: {
      summary: "A build's status",
      responses: { "200": ok("The build", ref("TemplateBuild")), "404": error("template_build_not_found") },
    },
  },
  "/v1/template-builds/{id}/logs": {
    parameters: [buildId],
    get: {
      summary: "A build's log from `offset`; with `follow=1`, NDJSON lines live until the build ends",
      parameters: [
        { name: "offset", in: "query", required: false, schema: { type: "integer", minimum: 0 } },
        { name: "follow", in: "query", required: false, schema: { type: "string", enum: ["1", "true"] } },
      ],
      responses: {
        "200": ok('`{build, logs, nextOffset}`; follow: `{"log": entry}` lines, then `{"build": info}`'),
        "404": error("template_build_not_found"),
      },
    },
  },
  "/v1/templates": {
    get: { summary: "Templates with their versions and tags", responses: { "200": ok("`{templates: Template[]}`") } },
  },
  "/v1/templates/{name}": {
    parameters: [name],
    get: { summary: "One template", responses: { "200": ok("The template", ref("Template")), "404": notFound } },
    delete: {
      summary: "Delete a template and every version; layers nothing else uses are removed",
      responses: {
        "204": ok("Deleted"),
        "404": notFound,
        "409": error("conflict: sandboxes still use a version (named in the message and details)"),
      },
    },
  },
  "/v1/templates/{name}/versions/{version}": {
    parameters: [name, param("version", "a version id (`tv_…`)")],
    get: {
      summary: "One version",
      responses: { "200": ok("The version", ref("TemplateVersion")), "404": notFound },
    },
    delete: {
      summary: "Delete one version (its tags go with it)",
      responses: { "204": ok("Deleted"), "404": notFound, "409": error("conflict: sandboxes still use it") },
    },
  },
  "/v1/templates/{name}/tags/{tag}": {
    parameters: [name, param("tag")],
    put: {
      summary: "Point a tag at a version of the template (moves it when it exists)",
      requestBody: {
        required: true,
        ...json({ type: "object", required: ["versionId"], properties: { versionId: { type: "string" } } }),
      },
      responses: { "200": ok("The template", ref("Template")), "400": error("validation_failed"), "404": notFound },
    },
    delete: { summary: "Remove a tag (the version stays)", responses: { "204": ok("Removed"), "404": notFound } },
  },
};
