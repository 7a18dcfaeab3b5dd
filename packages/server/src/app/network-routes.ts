import { BurrowError, ErrorCode, isSandboxId, type SandboxNetworkSettings } from "@burrow/core";
import { parseEgressPolicy } from "@burrow/egress";
import { z } from "zod";
import type { EgressService } from "../egress/egress-service.js";
import type { SecretBinder } from "../secrets/secret-binder.js";
import type { SecretService } from "../secrets/secret-service.js";
import type { SandboxService } from "../services/sandbox-service.js";
import { readJson, sendJson } from "./http.js";
import type { Router } from "./router.js";
import { EgressInputSchema, parseBody, SecretBindingsSchema } from "./schemas.js";

const NetworkSchema = z
  .object({ egress: EgressInputSchema.optional(), secrets: SecretBindingsSchema.optional() })
  .strict();

export interface NetworkRouteDeps {
  egress: EgressService;
  secrets: SecretService;
  binder: SecretBinder;
  sandboxes: SandboxService;
}

/** `/v1/sandboxes/:id/network`: the sandbox's egress policy and brokered secrets, read and replaced live. */
export function registerNetworkRoutes(router: Router, deps: NetworkRouteDeps): void {
  const path = "/v1/sandboxes/:id/network";
  const record = (params: Record<string, string>) => {
    const id = params.id ?? "";
    if (!isSandboxId(id)) {
      throw new BurrowError(ErrorCode.SandboxNotFound, `sandbox ${id} not found`, { details: { sandboxId: id } });
    }
    return deps.sandboxes.get(id);
  };
  const settings = async (id: string): Promise<SandboxNetworkSettings> => ({
    egress: await deps.egress.policy(id),
    secrets: await deps.secrets.bindings(id),
  });
  router.add("GET", path, async ({ res, params }) => {
    sendJson(res, 200, await settings((await record(params)).id));
  });
  router.add("PUT", path, async ({ req, res, params }) => {
    const sandbox = await record(params);
    const request = parseBody(NetworkSchema, await readJson(req));
    // Both parts are checked before either is applied.
    const policy = request.egress ? parseEgressPolicy(request.egress) : undefined;
    const bindings = request.secrets ? await deps.secrets.parseBindings(request.secrets) : undefined;
    if (policy) await deps.egress.set(sandbox, policy);
    if (bindings) await deps.binder.bind(sandbox, bindings);
    sendJson(res, 200, await settings(sandbox.id));
  });
}
