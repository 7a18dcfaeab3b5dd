import type { SecretBinding } from "@burrow/core";
import type { LifecycleService } from "../services/lifecycle.js";
import type { SandboxRecord, SandboxStore } from "../store/sandbox-store.js";
import { SecretService } from "./secret-service.js";

/**
 * Changes which secrets a live sandbox is bound to: the bindings the proxies read, and the env
 * its commands get (a placeholder per secret). A changed env is pushed to the sandbox's agent,
 * waking the sandbox if it sleeps, so the next command sees it.
 */
export class SecretBinder {
  constructor(
    private readonly secrets: SecretService,
    private readonly store: SandboxStore,
    private readonly lifecycle: LifecycleService,
  ) {}

  async bind(record: SandboxRecord, bindings: SecretBinding[]): Promise<void> {
    await this.secrets.setBindings(record.id, bindings);
    const env = SecretService.rebindEnv(record.env, bindings);
    if (JSON.stringify(Object.entries(env).sort()) === JSON.stringify(Object.entries(record.env).sort())) return;
    await this.store.update(record.id, { env }, new Date().toISOString());
    await this.lifecycle.ensureAwake(record.id);
    await this.lifecycle.initAgent({ ...record, env });
  }
}
