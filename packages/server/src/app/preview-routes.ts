import { BurrowError, ErrorCode, isPreviewId, isSandboxId } from "@burrow/core";
import { z } from "zod";
import type { PreviewService } from "../previews/preview-service.js";
import { readJson, sendEmpty, sendJson } from "./http.js";
import type { Router } from "./router.js";
import { parseBody } from "./schemas.js";

const CreatePreviewSchema = z
  .object({
    port: z.number().int().min(1, "port must be 1–65535").max(65535, "port must be 1–65535"),
    public: z.boolean().optional(),
    expiresInMs: z
      .number()
      .int()
      .min(1000)
      .max(366 * 24 * 3_600_000)
      .optional(),
  })
  .strict();

function sandboxId(params: Record<string, string>): string {
  const id = params.id ?? "";
  if (!isSandboxId(id)) {
    throw new BurrowError(ErrorCode.SandboxNotFound, `sandbox ${id} not found`, { details: { sandboxId: id } });
  }
  return id;
}

/** `/v1/sandboxes/:id/previews…`: create, list and delete preview URLs of sandbox ports. */
export function registerPreviewRoutes(router: Router, previews: PreviewService): void {
  const base = "/v1/sandboxes/:id/previews";
  router.add("POST", base, async ({ req, res, params }) => {
    const id = sandboxId(params);
    const request = parseBody(CreatePreviewSchema, await readJson(req));
    sendJson(res, 201, await previews.create(id, request));
  });
  router.add("GET", base, async ({ res, params }) => {
    sendJson(res, 200, await previews.list(sandboxId(params)));
  });
  router.add("DELETE", `${base}/:pid`, async ({ res, params }) => {
    const id = sandboxId(params);
    const pid = params.pid ?? "";
    if (!isPreviewId(pid)) {
      throw new BurrowError(ErrorCode.PreviewNotFound, `preview ${pid} not found`, {
        details: { sandboxId: id, previewId: pid },
      });
    }
    await previews.delete(id, pid);
    sendEmpty(res, 204);
  });
}
