import { BurrowError, ErrorCode, isSandboxId } from "@burrow/core";
import { z } from "zod";
import type { EgressService } from "../egress/egress-service.js";
import { parseEgressPolicy } from "../egress/policy.js";
import type { SandboxService } from "../services/sandbox-service.js";
import { readJson, sendJson } from "./http.js";
import type { Router } from "./router.js";
import { EgressInputSchema, parseBody } from "./schemas.js";

const NetworkSchema = z.object({ egress: EgressInputSchema }).strict();

/** `/v1/sandboxes/:id/network`: the sandbox's egress policy, read and replaced live. */
export function registerNetworkRoutes(router: Router, egress: EgressService, sandboxes: SandboxService): void {
  const path = "/v1/sandboxes/:id/network";
  const record = (params: Record<string, string>) => {
    const id = params.id ?? "";
    if (!isSandboxId(id)) {
      throw new BurrowError(ErrorCode.SandboxNotFound, `sandbox ${id} not found`, { details: { sandboxId: id } });
    }
    return sandboxes.get(id);
  };
  router.add("GET", path, ({ res, params }) => {
    sendJson(res, 200, { egress: egress.policy(record(params).id) });
  });
  router.add("PUT", path, async ({ req, res, params }) => {
    const sandbox = record(params);
    const request = parseBody(NetworkSchema, await readJson(req));
    const policy = parseEgressPolicy(request.egress);
    await egress.set(sandbox, policy);
    sendJson(res, 200, { egress: policy });
  });
}
