import type { CreateSandboxRequest, EgressPolicy, SecretBinding } from "@burrow/core";
import { parseEgressPolicy } from "@burrow/egress";
import type { EgressService } from "../egress/egress-service.js";
import { SecretService } from "../secrets/secret-service.js";
import type { SandboxRecord } from "../store/sandbox-store.js";

/** A create request's settings, checked before anything starts, applied once the sandbox exists. */
export interface PreparedSettings {
  /** Env the sandbox gets below the request's own: each bound secret's placeholder. */
  env: Record<string, string>;
  apply(record: SandboxRecord): Promise<void>;
}

export interface SandboxSettingsDeps {
  egress: EgressService;
  secrets: SecretService;
  /** Other rows kept per sandbox (previews, E2B options), dropped when it is deleted. */
  dropOnDelete?: Array<(sandboxId: string) => Promise<void>>;
}

/**
 * What other services keep per sandbox — egress policy, secret bindings, previews, E2B options:
 * set from the create request, copied to forks, and dropped at delete, whichever way (REST, E2B,
 * MCP, lifecycle timer, warm pool, fork rollback) the sandbox was created or deleted.
 */
export class SandboxSettings {
  constructor(private readonly deps: SandboxSettingsDeps) {}

  /**
   * Checks the request's egress policy and secret bindings (or `egress`, a policy already
   * compiled by the caller): a bad entry or an unknown secret throws a 4xx, and no sandbox starts.
   */
  async prepare(request: CreateSandboxRequest, egress?: EgressPolicy): Promise<PreparedSettings> {
    const policy = egress ?? (request.network?.egress ? parseEgressPolicy(request.network.egress) : undefined);
    const bindings: SecretBinding[] | undefined = request.network?.secrets
      ? await this.deps.secrets.parseBindings(request.network.secrets)
      : undefined;
    return {
      env: bindings ? SecretService.sandboxEnv(bindings) : {},
      apply: async (record) => {
        if (bindings) await this.deps.secrets.setBindings(record.id, bindings);
        if (policy) await this.deps.egress.set(record, policy);
      },
    };
  }

  /** Gives a fork its source's egress policy and secret bindings. */
  async copy(fromId: string, toId: string): Promise<void> {
    await this.deps.egress.copy(fromId, toId);
    await this.deps.secrets.copy(fromId, toId);
  }

  /** Drops everything kept for a deleted sandbox. */
  async forget(sandboxId: string): Promise<void> {
    await this.deps.egress.forget(sandboxId);
    await this.deps.secrets.forget(sandboxId);
    for (const drop of this.deps.dropOnDelete ?? []) await drop(sandboxId);
  }
}
