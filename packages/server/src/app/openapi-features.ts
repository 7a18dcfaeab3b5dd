/** OpenAPI paths and schemas of checkpoints, previews, network settings and secrets. */
import { error, json, ok, ref } from "./openapi-parts.js";

const param = (name: string, pattern?: string) => ({
  name,
  in: "path",
  required: true,
  schema: { type: "string", ...(pattern ? { pattern } : {}) },
});
const sandboxId = param("id", "^sb_[a-z2-7]{20}$");
const checkpointId = { ...param("cid"), description: "a checkpoint id (`ck_…`), or `now` where noted" };
const notFound = error("sandbox_not_found / checkpoint_not_found");
const body = (schema: Record<string, unknown>) => ({ required: true, ...json(schema) });

const stringList = { type: "array", items: { type: "string" } };

export const featureSchemas = {
  Checkpoint: {
    type: "object",
    required: ["id", "sandboxId", "mode", "status", "createdAt"],
    properties: {
      id: { type: "string" },
      sandboxId: { type: "string" },
      name: { type: "string" },
      mode: { type: "string", enum: ["fs", "full"] },
      status: { type: "string", enum: ["storing", "ready"] },
      parentId: { type: ["string", "null"] },
      sizeBytes: { type: "integer" },
      storedBytes: { type: "integer" },
      createdAt: { type: "string", format: "date-time" },
    },
  },
  Preview: {
    type: "object",
    required: ["id", "sandboxId", "port", "public", "host", "url", "createdAt"],
    properties: {
      id: { type: "string" },
      sandboxId: { type: "string" },
      port: { type: "integer", minimum: 1, maximum: 65535 },
      public: { type: "boolean" },
      host: { type: "string" },
      url: { type: "string" },
      token: { type: "string", description: "only in the answer to create, for a private preview" },
      expiresAt: { type: ["string", "null"], format: "date-time" },
      createdAt: { type: "string", format: "date-time" },
    },
  },
  EgressPolicy: {
    type: "object",
    description: "Entries are domains (`*.x` for subdomains) or IPv4 CIDRs; deny wins over allow.",
    properties: { default: { type: "string", enum: ["allow", "deny"] }, allow: stringList, deny: stringList },
  },
  SecretBinding: {
    type: "object",
    required: ["name", "hosts"],
    additionalProperties: false,
    properties: {
      name: { type: "string" },
      hosts: { ...stringList, description: "host names, `*.x` allowed" },
      allowHttp: {
        type: "boolean",
        description: "also send the value in plain-HTTP requests (port 80), unencrypted; default false: HTTPS only",
      },
    },
  },
  NetworkSettings: {
    type: "object",
    properties: { egress: ref("EgressPolicy"), secrets: { type: "array", items: ref("SecretBinding") } },
  },
  Secret: {
    type: "object",
    required: ["name", "createdAt", "updatedAt"],
    description: "A stored secret; its value is never returned.",
    properties: {
      name: { type: "string", pattern: "^[A-Za-z_][A-Za-z0-9_]{0,127}$" },
      createdAt: { type: "string", format: "date-time" },
      updatedAt: { type: "string", format: "date-time" },
    },
  },
};

const checkpoints = "/v1/sandboxes/{id}/checkpoints";

export const featurePaths = {
  [checkpoints]: {
    parameters: [sandboxId],
    post: {
      summary: "Checkpoint the sandbox live (fs: files; full: files, memory and processes)",
      requestBody: json({
        type: "object",
        additionalProperties: false,
        properties: {
          name: { type: "string" },
          mode: { type: "string", enum: ["fs", "full"], default: "fs" },
          wait: { type: "boolean", description: "answer once stored (status ready)" },
        },
      }),
      responses: { "201": ok("The checkpoint", ref("Checkpoint")), "404": notFound, "409": error("conflict") },
    },
    get: {
      summary: "The sandbox's checkpoints, oldest first, and its head",
      responses: { "200": ok("`{checkpoints, headId}`") },
    },
  },
  [`${checkpoints}/diff`]: {
    parameters: [sandboxId],
    get: {
      summary: "Files added, modified and removed between two checkpoints (`to` may be `now`)",
      parameters: [
        { name: "from", in: "query", required: true, schema: { type: "string" } },
        { name: "to", in: "query", schema: { type: "string", default: "now" } },
        { name: "path", in: "query", schema: { type: "string" }, description: "also a unified diff of this file" },
      ],
      responses: { "200": ok("`{entries, unified?}`"), "404": notFound },
    },
  },
  [`${checkpoints}/{cid}`]: {
    parameters: [sandboxId, checkpointId],
    get: { summary: "A checkpoint", responses: { "200": ok("The checkpoint", ref("Checkpoint")), "404": notFound } },
    delete: {
      summary: "Delete a checkpoint; frees blobs nothing else uses",
      responses: { "204": ok("Deleted"), "404": notFound },
    },
  },
  [`${checkpoints}/{cid}/restore`]: {
    parameters: [sandboxId, checkpointId],
    post: {
      summary: "Restore the sandbox in place",
      responses: { "200": ok("The sandbox", ref("Sandbox")), "404": notFound },
    },
  },
  [`${checkpoints}/{cid}/fork`]: {
    parameters: [sandboxId, checkpointId],
    post: {
      summary:
        "New sandboxes from a checkpoint, or from `now` (a full checkpoint first); a full checkpoint's forks carry its memory and processes",
      requestBody: json({ type: "object", properties: { count: { type: "integer", minimum: 1, maximum: 20 } } }),
      responses: { "201": ok("`{checkpointId, sandboxIds, processes}`"), "404": notFound },
    },
  },
  "/v1/sandboxes/{id}/previews": {
    parameters: [sandboxId],
    post: {
      summary: "A preview URL of a port: private (token) or public",
      requestBody: body({
        type: "object",
        required: ["port"],
        properties: {
          port: { type: "integer", minimum: 1, maximum: 65535 },
          public: { type: "boolean" },
          expiresInMs: { type: "integer", minimum: 1000 },
        },
      }),
      responses: { "201": ok("The preview", ref("Preview")), "400": error("validation_failed"), "404": notFound },
    },
    get: { summary: "The sandbox's previews", responses: { "200": ok("`{previews, domain}`") } },
  },
  "/v1/sandboxes/{id}/previews/{pid}": {
    parameters: [sandboxId, param("pid")],
    delete: {
      summary: "Delete a preview; its token stops working",
      responses: { "204": ok("Deleted"), "404": error("preview_not_found") },
    },
  },
  "/v1/sandboxes/{id}/network": {
    parameters: [sandboxId],
    get: {
      summary: "Egress policy and brokered secrets",
      responses: { "200": ok("Settings", ref("NetworkSettings")) },
    },
    put: {
      summary: "Replace the egress policy and/or the secret bindings, live",
      requestBody: body(ref("NetworkSettings")),
      responses: {
        "200": ok("Settings", ref("NetworkSettings")),
        "400": error("validation_failed (names the bad entry) / unknown_secret"),
        "404": notFound,
      },
    },
  },
  "/v1/secrets": {
    post: {
      summary: "Store a secret (sealed at rest; the value is never returned)",
      requestBody: body({
        type: "object",
        required: ["name", "value"],
        properties: { name: { type: "string" }, value: { type: "string" } },
      }),
      responses: {
        "201": ok("The secret", ref("Secret")),
        "400": error("validation_failed"),
        "409": error("conflict"),
      },
    },
    get: { summary: "Stored secrets (names and times)", responses: { "200": ok("`{secrets: Secret[]}`") } },
  },
  "/v1/secrets/{name}": {
    parameters: [param("name")],
    get: {
      summary: "One secret (no value)",
      responses: { "200": ok("The secret", ref("Secret")), "404": error("secret_not_found") },
    },
    put: {
      summary: "Set a secret's value (create or replace)",
      requestBody: body({ type: "object", required: ["value"], properties: { value: { type: "string" } } }),
      responses: { "200": ok("The secret", ref("Secret")), "400": error("validation_failed") },
    },
    delete: { summary: "Delete a secret", responses: { "204": ok("Deleted"), "404": error("secret_not_found") } },
  },
};
