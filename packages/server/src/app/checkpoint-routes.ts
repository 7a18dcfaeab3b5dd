import { BurrowError, ErrorCode, isCheckpointId, isSandboxId } from "@burrow/core";
import { z } from "zod";
import type { DiffService } from "../checkpoints/diff-service.js";
import { type CheckpointService, MAX_FORKS, toCheckpointInfo } from "../checkpoints/service.js";
import { toInfo } from "../services/sandbox-service.js";
import { readJson, sendEmpty, sendJson } from "./http.js";
import type { Router } from "./router.js";
import { parseBody } from "./schemas.js";

export interface CheckpointRouteDeps {
  checkpoints: CheckpointService;
  diffs: DiffService;
}

const CreateCheckpointSchema = z
  .object({
    name: z.string().min(1).max(128).optional(),
    mode: z.enum(["fs", "full"]).optional(),
    wait: z.boolean().optional(),
  })
  .strict();
const ForkSchema = z.object({ count: z.number().int().min(1).max(MAX_FORKS).optional() }).strict();

function ids(params: Record<string, string>, allowNow = false): { id: string; cid: string } {
  const id = params.id ?? "";
  const cid = params.cid ?? "";
  if (!isSandboxId(id)) {
    throw new BurrowError(ErrorCode.SandboxNotFound, `sandbox ${id} not found`, { details: { sandboxId: id } });
  }
  if (!(isCheckpointId(cid) || (allowNow && cid === "now"))) {
    throw new BurrowError(
      ErrorCode.CheckpointNotFound,
      `checkpoint ${cid} not found (ids look like ck_ followed by 20 characters)`,
      { details: { sandboxId: id, checkpointId: cid } },
    );
  }
  return { id, cid };
}

/** `/v1/sandboxes/:id/checkpoints…`: create, list, get, delete, restore, fork, diff. */
export function registerCheckpointRoutes(router: Router, deps: CheckpointRouteDeps): void {
  const { checkpoints, diffs } = deps;
  const base = "/v1/sandboxes/:id/checkpoints";

  router.add("POST", base, async ({ req, res, params }) => {
    const { id } = ids({ ...params, cid: "now" }, true);
    const request = parseBody(CreateCheckpointSchema, await readJson(req));
    const record = await checkpoints.create(id, {
      ...(request.name === undefined ? {} : { name: request.name }),
      ...(request.mode === undefined ? {} : { mode: request.mode }),
    });
    sendJson(res, 201, toCheckpointInfo(request.wait ? await checkpoints.stored(id, record.id) : record));
  });

  router.add("GET", base, async ({ res, params }) => {
    const { id } = ids({ ...params, cid: "now" }, true);
    const { checkpoints: list, headId } = await checkpoints.list(id);
    sendJson(res, 200, { checkpoints: list.map(toCheckpointInfo), headId });
  });

  // Before `:cid` so that "diff" is not taken for a checkpoint id.
  router.add("GET", `${base}/diff`, async ({ res, params, url }) => {
    const from = url.searchParams.get("from") ?? "";
    const to = url.searchParams.get("to") ?? "now";
    ids({ ...params, cid: from });
    const { id } = ids({ ...params, cid: to }, true);
    const path = url.searchParams.get("path") ?? undefined;
    sendJson(res, 200, await diffs.diff(id, from, to, path));
  });

  router.add("GET", `${base}/:cid`, async ({ res, params }) => {
    const { id, cid } = ids(params);
    sendJson(res, 200, toCheckpointInfo(await checkpoints.get(id, cid)));
  });

  router.add("DELETE", `${base}/:cid`, async ({ res, params }) => {
    const { id, cid } = ids(params);
    if (!(await checkpoints.delete(id, cid))) await checkpoints.get(id, cid);
    sendEmpty(res, 204);
  });

  router.add("POST", `${base}/:cid/restore`, async ({ res, params }) => {
    const { id, cid } = ids(params);
    sendJson(res, 200, toInfo(await checkpoints.restore(id, cid)));
  });

  router.add("POST", `${base}/:cid/fork`, async ({ req, res, params }) => {
    const { id, cid } = ids(params, true);
    const { count } = parseBody(ForkSchema, await readJson(req));
    // Forks keep their source's egress policy and secret bindings.
    sendJson(res, 201, await checkpoints.fork(id, cid, count ?? 1));
  });
}
