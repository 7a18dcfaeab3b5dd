/** The OpenAPI 3.1 document for `/v1`, served at `/v1/openapi.json`. */
import { featurePaths, featureSchemas } from "./openapi-features.js";
import { metricsPaths, metricsSchemas } from "./openapi-metrics.js";
import { templatePaths, templateSchemas } from "./openapi-templates.js";
import { volumePaths, volumeSchemas } from "./openapi-volumes.js";
import { webhookPaths, webhookSchemas } from "./openapi-webhooks.js";

const errorRef = { $ref: "#/components/schemas/Error" };
const errorResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: errorRef } },
});
const sandboxResponse = {
  description: "The sandbox",
  content: { "application/json": { schema: { $ref: "#/components/schemas/Sandbox" } } },
};
const idParam = { name: "id", in: "path", required: true, schema: { type: "string", pattern: "^sb_[a-z2-7]{20}$" } };

export function openApiDocument(version: string): Record<string, unknown> {
  return {
    openapi: "3.1.0",
    info: {
      title: "Burrow API",
      version,
      description: "Persistent gVisor sandboxes for AI agents. Authenticate with `Authorization: Bearer <key>`.",
    },
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer" },
        apiKey: { type: "apiKey", in: "header", name: "X-API-Key" },
      },
      schemas: {
        Error: {
          type: "object",
          required: ["error"],
          properties: {
            error: {
              type: "object",
              required: ["code", "message"],
              properties: {
                code: { type: "string", examples: ["sandbox_not_found", "validation_failed"] },
                message: { type: "string" },
                details: { type: "object" },
              },
            },
          },
        },
        Resources: {
          type: "object",
          properties: {
            vcpus: { type: "number", minimum: 0.1, maximum: 64, default: 2 },
            memoryMb: { type: "integer", minimum: 128, maximum: 262144, default: 2048 },
            pids: { type: "integer", minimum: 16, maximum: 1048576, default: 4096 },
            diskMb: {
              type: "integer",
              minimum: 64,
              maximum: 4194304,
              default: 10240,
              description:
                "size of the sandbox's own disk; writes past it get ENOSPC inside (0: none, older sandboxes)",
            },
          },
        },
        Lifecycle: {
          type: "object",
          description: "When the sandbox sleeps, in milliseconds; 0 = never.",
          properties: {
            standbyAfterMs: { type: "integer", minimum: 0, default: 15000 },
            hibernateAfterMs: { type: "integer", minimum: 0, default: 600000 },
            deleteAfterMs: { type: "integer", minimum: 0, default: 0 },
            beforeHibernate: {
              type: ["object", "null"],
              description:
                "a command run before each hibernation (bash -l -c); its exit code and output are in the before_hibernate event; null removes it",
              required: ["command"],
              properties: {
                command: { type: "string", maxLength: 4096 },
                timeoutMs: { type: "integer", minimum: 100, maximum: 300000, default: 30000 },
                user: { type: "string", default: "user" },
              },
            },
          },
        },
        Event: {
          type: "object",
          required: ["id", "sandboxId", "at", "type", "reason"],
          properties: {
            id: { type: "integer" },
            sandboxId: { type: "string" },
            at: { type: "string", format: "date-time" },
            type: { type: "string", examples: ["created", "standby", "hibernated", "woken", "died"] },
            from: { type: "string" },
            to: { type: "string" },
            reason: { type: "string" },
            durationMs: { type: "integer" },
          },
        },
        CreateSandbox: {
          type: "object",
          additionalProperties: false,
          properties: {
            template: { type: "string", default: "base" },
            env: { type: "object", additionalProperties: { type: "string" } },
            metadata: { type: "object", additionalProperties: { type: "string" } },
            resources: { $ref: "#/components/schemas/Resources" },
            lifecycle: { $ref: "#/components/schemas/Lifecycle" },
            network: {
              type: "object",
              additionalProperties: false,
              properties: {
                egress: { $ref: "#/components/schemas/EgressPolicy" },
                secrets: { type: "array", items: { $ref: "#/components/schemas/SecretBinding" } },
              },
            },
            volumes: { type: "array", maxItems: 16, items: { $ref: "#/components/schemas/VolumeMount" } },
          },
        },
        ...featureSchemas,
        ...metricsSchemas,
        ...templateSchemas,
        ...volumeSchemas,
        ...webhookSchemas,
        Sandbox: {
          type: "object",
          required: [
            "id",
            "template",
            "state",
            "metadata",
            "resources",
            "lifecycle",
            "createdAt",
            "updatedAt",
            "lastActivityAt",
          ],
          properties: {
            id: { type: "string" },
            template: { type: "string" },
            state: {
              type: "string",
              enum: [
                "starting",
                "running",
                "standby",
                "hibernating",
                "hibernated",
                "waking",
                "error",
                "deleting",
                "deleted",
              ],
            },
            metadata: { type: "object", additionalProperties: { type: "string" } },
            resources: { $ref: "#/components/schemas/Resources" },
            createdAt: { type: "string", format: "date-time" },
            updatedAt: { type: "string", format: "date-time" },
            lastActivityAt: { type: "string", format: "date-time" },
            lifecycle: { $ref: "#/components/schemas/Lifecycle" },
            error: { type: "string" },
          },
        },
      },
    },
    security: [{ bearer: [] }, { apiKey: [] }],
    paths: {
      "/v1/health": {
        get: { security: [], summary: "Server readiness", responses: { "200": { description: "Ready" } } },
      },
      "/v1/openapi.json": {
        get: { security: [], summary: "This document", responses: { "200": { description: "OpenAPI 3.1" } } },
      },
      "/v1/sandboxes": {
        post: {
          summary: "Create a sandbox",
          requestBody: { content: { "application/json": { schema: { $ref: "#/components/schemas/CreateSandbox" } } } },
          responses: {
            "201": {
              description: "Running sandbox",
              content: { "application/json": { schema: { $ref: "#/components/schemas/Sandbox" } } },
            },
            "400": errorResponse("Invalid request (validation_failed, bad_request)"),
            "404": errorResponse("template_not_found"),
          },
        },
        get: {
          summary: "List sandboxes",
          parameters: [
            {
              name: "metadata",
              in: "query",
              description: "URL-encoded `k1=v1&k2=v2`; all pairs must match",
              schema: { type: "string" },
            },
            {
              name: "limit",
              in: "query",
              description: "Page size (1..1000); without it, every sandbox in one answer",
              schema: { type: "integer", minimum: 1, maximum: 1000 },
            },
            {
              name: "nextToken",
              in: "query",
              description: "The previous page's `nextToken`",
              schema: { type: "string" },
            },
          ],
          responses: {
            "200": { description: "`{ sandboxes: Sandbox[], nextToken? }` (nextToken while more follow)" },
            "400": errorResponse("bad_request: a bad limit or nextToken"),
          },
        },
      },
      "/v1/sandboxes/{id}": {
        parameters: [idParam],
        get: {
          summary: "Get a sandbox",
          responses: {
            "200": {
              description: "The sandbox",
              content: { "application/json": { schema: { $ref: "#/components/schemas/Sandbox" } } },
            },
            "404": errorResponse("sandbox_not_found"),
          },
        },
        patch: {
          summary: "Change the sleep policy, replace the metadata and/or change limits live",
          requestBody: {
            content: {
              "application/json": {
                schema: {
                  type: "object",
                  additionalProperties: false,
                  properties: {
                    lifecycle: { $ref: "#/components/schemas/Lifecycle" },
                    metadata: { type: "object", additionalProperties: { type: "string" } },
                    resources: {
                      $ref: "#/components/schemas/Resources",
                      description: "vcpus up or down and diskMb up, at once; memoryMb and pids cannot change (400)",
                    },
                  },
                },
              },
            },
          },
          responses: {
            "200": sandboxResponse,
            "400": errorResponse("validation_failed / resources_exceeded"),
            "404": errorResponse("sandbox_not_found"),
            "409": errorResponse("conflict (a sandbox starting, waking or hibernating)"),
          },
        },
        delete: {
          summary: "Delete a sandbox and all its files",
          responses: { "204": { description: "Deleted" }, "404": errorResponse("sandbox_not_found") },
        },
      },
      "/v1/events": {
        get: {
          summary: "Server-sent event stream of every sandbox's lifecycle events as they happen",
          description:
            "`text/event-stream`; each message is `event: sandbox`, `id: <event id>`, `data: { event, sandbox }` " +
            "where sandbox is the sandbox after the event (null once deleted). Comment lines keep it alive.",
          responses: { "200": { description: "An endless `text/event-stream`" }, "401": errorResponse("unauthorized") },
        },
      },
      "/v1/sandboxes/{id}/events": {
        parameters: [idParam],
        get: {
          summary: "Lifecycle events, oldest first",
          parameters: [
            { name: "after", in: "query", schema: { type: "integer" }, description: "only events after this id" },
          ],
          responses: { "200": { description: "`{ events: Event[] }`" }, "404": errorResponse("sandbox_not_found") },
        },
      },
      ...Object.fromEntries(
        (
          [
            ["pause", "Standby now: processes frozen, memory kept"],
            ["hibernate", "Hibernate now: memory and processes written to disk"],
            ["resume", "Wake a sleeping sandbox (any call that needs it does this too)"],
            ["restart", "Start afresh on the sandbox's files (from error, or dropping its processes)"],
            ["keepalive", "Keep awake for `durationMs` (body, optional) without other activity"],
          ] as const
        ).map(([action, summary]) => [
          `/v1/sandboxes/{id}/${action}`,
          {
            parameters: [idParam],
            post: {
              summary,
              responses: {
                "200": sandboxResponse,
                "404": errorResponse("sandbox_not_found"),
                "409": errorResponse("sandbox_not_running / conflict"),
              },
            },
          },
        ]),
      ),
      "/v1/sandboxes/{id}/envd/{path}": {
        parameters: [idParam, { name: "path", in: "path", required: true, schema: { type: "string" } }],
        post: {
          summary: "envd protocol passthrough to the sandbox agent (any method; wakes a sleeping sandbox)",
          description:
            "Forwards the request to the in-sandbox agent (E2B envd protocol: Connect RPC JSON, /files, /health). " +
            "Send the user as `X-Burrow-User`. `/init` is reserved for the server (403).",
          responses: { "200": { description: "Agent response" }, "409": errorResponse("sandbox_not_running") },
        },
      },
      ...featurePaths,
      ...metricsPaths,
      ...templatePaths,
      ...volumePaths,
      ...webhookPaths,
    },
  };
}
