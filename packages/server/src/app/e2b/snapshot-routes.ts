import type { Logger } from "@burrow/core";
import { z } from "zod";
import { MAX_FORKS } from "../../checkpoints/service.js";
import type { ApiKeyStore } from "../../store/api-key-store.js";
import { readJson, sendJson } from "../http.js";
import type { Router } from "../router.js";
import { parseBody } from "../schemas.js";
import { e2bRouteAdder, intParam } from "./routes.js";
import { decodeNextToken, MAX_PAGE } from "./schemas.js";
import { DEFAULT_FORK_TIMEOUT_S, type E2bSnapshots } from "./snapshot-service.js";

// Unknown fields are ignored, as E2B's API does.
const SnapshotSchema = z.object({ name: z.string().min(1).max(200).optional() });
const ForkSchema = z.object({
  count: z.number().int().min(1).max(MAX_FORKS).optional(),
  timeout: z
    .number()
    .int()
    .min(0)
    .max(10 * 365 * 24 * 3600)
    .optional(),
});

/**
 * E2B's snapshot and fork endpoints: `POST /sandboxes/{id}/snapshots`, `GET /snapshots` (paged
 * with X-Next-Token), `POST /sandboxes/{id}/fork`. Snapshots are deleted through
 * `DELETE /templates/{snapshotID}` (the template routes).
 */
export function registerE2bSnapshotRoutes(
  router: Router,
  snapshots: E2bSnapshots,
  keys: ApiKeyStore,
  logger: Logger,
): void {
  const add = e2bRouteAdder(router, keys, logger);

  add("POST", "/sandboxes/:id/snapshots", async ({ req, res, params }) => {
    const body = parseBody(SnapshotSchema, await readJson(req));
    sendJson(res, 201, await snapshots.create(params.id ?? "", body.name));
  });

  add("GET", "/snapshots", async ({ res, url }) => {
    const q = url.searchParams;
    const limit = intParam(url, "limit") ?? MAX_PAGE;
    const token = q.get("nextToken");
    const { page, nextToken } = await snapshots.list({
      sandboxId: q.get("sandboxID") || undefined,
      name: q.get("name") || undefined,
      limit: Math.min(Math.max(limit, 1), MAX_PAGE),
      after: token ? decodeNextToken(token) : undefined,
    });
    if (nextToken) res.setHeader("X-Next-Token", nextToken);
    sendJson(res, 200, page);
  });

  add("POST", "/sandboxes/:id/fork", async (ctx) => {
    const body = parseBody(ForkSchema, await readJson(ctx.req));
    const results = await snapshots.fork(
      ctx.params.id ?? "",
      body.count ?? 1,
      body.timeout ?? DEFAULT_FORK_TIMEOUT_S,
      ctx.req.headers.host ?? null,
    );
    sendJson(ctx.res, 201, results);
  });
}
