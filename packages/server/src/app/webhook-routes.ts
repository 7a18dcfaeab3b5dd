import { BurrowError, ErrorCode } from "@burrow/core";
import { z } from "zod";
import type { WebhookService } from "../webhooks/webhook-service.js";
import { readJson, sendEmpty, sendJson } from "./http.js";
import type { Router } from "./router.js";
import { parseBody } from "./schemas.js";

const CreateWebhookSchema = z.object({ url: z.string(), events: z.array(z.string()).optional() }).strict();

function limitParam(url: URL): number | undefined {
  const raw = url.searchParams.get("limit");
  if (raw === null || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 500) {
    throw new BurrowError(ErrorCode.BadRequest, "limit must be a whole number from 1 to 500", {
      details: { field: "limit" },
    });
  }
  return n;
}

/** `/v1/webhooks`: where events are pushed, a test delivery, and the delivery log. */
export function registerWebhookRoutes(router: Router, webhooks: WebhookService): void {
  router.add("POST", "/v1/webhooks", async ({ req, res }) => {
    const { url, events } = parseBody(CreateWebhookSchema, await readJson(req));
    sendJson(res, 201, await webhooks.create(url, events));
  });
  router.add("GET", "/v1/webhooks", async ({ res }) => {
    sendJson(res, 200, { webhooks: await webhooks.list() });
  });
  router.add("GET", "/v1/webhooks/:id", async ({ res, params }) => {
    sendJson(res, 200, await webhooks.get(params.id ?? ""));
  });
  router.add("DELETE", "/v1/webhooks/:id", async ({ res, params }) => {
    await webhooks.delete(params.id ?? "");
    sendEmpty(res, 204);
  });
  router.add("POST", "/v1/webhooks/:id/test", async ({ res, params }) => {
    sendJson(res, 202, await webhooks.test(params.id ?? ""));
  });
  router.add("GET", "/v1/webhooks/:id/deliveries", async ({ res, params, url }) => {
    sendJson(res, 200, { deliveries: await webhooks.deliveries(params.id ?? "", limitParam(url)) });
  });
}
