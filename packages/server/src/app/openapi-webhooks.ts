/** OpenAPI paths and schemas of webhooks and their deliveries. */
import { error, json, ok, ref } from "./openapi-parts.js";

const idParam = { name: "id", in: "path", required: true, schema: { type: "string" }, description: "`wh_…`" };
const notFound = error("webhook_not_found");

export const webhookSchemas = {
  Webhook: {
    type: "object",
    required: ["id", "url", "events", "createdAt"],
    properties: {
      id: { type: "string", pattern: "^wh_[a-z2-7]{20}$" },
      url: { type: "string", description: "http or https; deliveries are POSTed here" },
      events: {
        type: "array",
        items: { type: "string" },
        description:
          "event names or patterns ending in `*`: `sandbox.hibernated`, `sandbox.*`, `template.build.*`, `*`",
      },
      createdAt: { type: "string", format: "date-time" },
      secret: { type: "string", description: "only in the create answer: the key of the `burrow-signature` HMAC" },
    },
  },
  WebhookDelivery: {
    type: "object",
    required: ["id", "webhookId", "event", "status", "createdAt", "attempts", "payload"],
    properties: {
      id: { type: "string", description: "`whd_…`, also the payload's id and the `burrow-delivery` header" },
      webhookId: { type: "string" },
      event: { type: "string" },
      sandboxId: { type: "string" },
      status: { type: "string", enum: ["pending", "delivered", "failed"] },
      createdAt: { type: "string", format: "date-time" },
      nextAttemptAt: { type: "string", format: "date-time" },
      attempts: {
        type: "array",
        items: {
          type: "object",
          properties: {
            at: { type: "string", format: "date-time" },
            status: { type: "integer", description: "the HTTP status answered; absent when none" },
            error: { type: "string" },
            durationMs: { type: "number" },
          },
        },
      },
      payload: { type: "object", description: "what was POSTed: `{id, event, at, sandboxId?, data}`" },
    },
  },
};

export const webhookPaths = {
  "/v1/webhooks": {
    post: {
      summary: "Add a webhook; the answer shows its signing secret, once",
      requestBody: {
        required: true,
        ...json({
          type: "object",
          required: ["url"],
          additionalProperties: false,
          properties: { url: { type: "string" }, events: { type: "array", items: { type: "string" }, default: ["*"] } },
        }),
      },
      responses: {
        "201": ok("The webhook, with `secret`", ref("Webhook")),
        "400": error("validation_failed: a bad URL or event name"),
        "409": error("conflict: 100 webhooks already"),
      },
    },
    get: { summary: "Every webhook (no secrets)", responses: { "200": ok("`{webhooks}`") } },
  },
  "/v1/webhooks/{id}": {
    parameters: [idParam],
    get: { summary: "A webhook", responses: { "200": ok("The webhook", ref("Webhook")), "404": notFound } },
    delete: {
      summary: "Delete a webhook and its pending deliveries",
      responses: { "204": ok("Deleted"), "404": notFound },
    },
  },
  "/v1/webhooks/{id}/test": {
    parameters: [idParam],
    post: {
      summary: "Queue a `webhook.test` delivery to it",
      responses: { "202": ok("The queued delivery", ref("WebhookDelivery")), "404": notFound },
    },
  },
  "/v1/webhooks/{id}/deliveries": {
    parameters: [idParam],
    get: {
      summary: "Its delivery log, newest first, with every attempt (kept 7 days)",
      parameters: [{ name: "limit", in: "query", schema: { type: "integer", default: 50, minimum: 1, maximum: 500 } }],
      responses: { "200": ok("`{deliveries}`"), "400": error("bad_request: limit"), "404": notFound },
    },
  },
};
