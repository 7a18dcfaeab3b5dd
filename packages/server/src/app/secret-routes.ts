import { z } from "zod";
import type { SecretService } from "../secrets/secret-service.js";
import { readJson, sendEmpty, sendJson } from "./http.js";
import type { Router } from "./router.js";
import { parseBody } from "./schemas.js";

const CreateSecretSchema = z.object({ name: z.string(), value: z.string() }).strict();
const UpdateSecretSchema = z.object({ value: z.string() }).strict();

/** `/v1/secrets`: secrets for the egress proxy to broker. Values go in and never come out. */
export function registerSecretRoutes(router: Router, secrets: SecretService): void {
  router.add("POST", "/v1/secrets", async ({ req, res }) => {
    const { name, value } = parseBody(CreateSecretSchema, await readJson(req));
    sendJson(res, 201, await secrets.create(name, value));
  });
  router.add("GET", "/v1/secrets", async ({ res }) => {
    sendJson(res, 200, { secrets: await secrets.list() });
  });
  router.add("GET", "/v1/secrets/:name", async ({ res, params }) => {
    sendJson(res, 200, await secrets.get(params.name ?? ""));
  });
  router.add("PUT", "/v1/secrets/:name", async ({ req, res, params }) => {
    const { value } = parseBody(UpdateSecretSchema, await readJson(req));
    sendJson(res, 200, await secrets.put(params.name ?? "", value));
  });
  router.add("DELETE", "/v1/secrets/:name", async ({ res, params }) => {
    const name = params.name ?? "";
    if (!(await secrets.delete(name))) await secrets.get(name);
    sendEmpty(res, 204);
  });
}
