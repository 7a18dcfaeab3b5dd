import { randomBytes } from "node:crypto";
import {
  BurrowError,
  type CreateSandboxRequest,
  DEFAULT_RESOURCES,
  DEFAULT_TEMPLATE,
  ErrorCode,
  type Logger,
  newSandboxId,
  type SandboxInfo,
  type SandboxState,
} from "@burrow/core";
import { type AgentEndpoint, MAX_NETWORK_INDEX, type Runtime } from "@burrow/runtime";
import type { SandboxRecord, SandboxStore } from "../store/sandbox-store.js";
import { agentRequest, waitForAgent } from "./agent-client.js";
import { assertTransition } from "./state-machine.js";
import type { Templates } from "./templates.js";

const AGENT_READY_TIMEOUT_MS = 15_000;

export interface SandboxServiceDeps {
  store: SandboxStore;
  runtime: Runtime;
  templates: Templates;
  logger: Logger;
  now?: () => Date;
  /** Whether to wait for the agent and initialise it (false with a fake runtime). */
  agentsEnabled?: boolean;
}

export function toInfo(record: SandboxRecord): SandboxInfo {
  const { env: _env, agentToken: _token, ...info } = record;
  return info;
}

/** Sandbox lifecycle: create, look up, list, delete, and noticing sandboxes that died. */
export class SandboxService {
  private readonly now: () => Date;
  private readonly agentsEnabled: boolean;

  constructor(private readonly deps: SandboxServiceDeps) {
    this.now = deps.now ?? (() => new Date());
    this.agentsEnabled = deps.agentsEnabled ?? true;
  }

  private transition(record: SandboxRecord, to: SandboxState, error: string | null = null): void {
    assertTransition(record.id, record.state, to);
    this.deps.store.setState(record.id, to, error, this.now().toISOString());
    record.state = to;
    if (error === null) delete record.error;
    else record.error = error;
  }

  async create(request: CreateSandboxRequest): Promise<SandboxRecord> {
    const template = request.template ?? DEFAULT_TEMPLATE;
    const templateRootfs = this.deps.templates.resolve(template);
    const now = this.now().toISOString();
    const record = this.deps.store.insertWithNetworkIndex(
      {
        id: newSandboxId((n) => randomBytes(n)),
        template,
        state: "starting",
        metadata: request.metadata ?? {},
        env: request.env ?? {},
        resources: { ...DEFAULT_RESOURCES, ...request.resources },
        agentToken: randomBytes(24).toString("hex"),
        createdAt: now,
        updatedAt: now,
      },
      MAX_NETWORK_INDEX,
    );
    // Written before the runtime acts, so a crash mid-create leaves a row to reconcile.
    const log = this.deps.logger.child({ sandboxId: record.id });
    try {
      await this.deps.runtime.create({
        id: record.id,
        templateRootfs,
        resources: record.resources,
        agentToken: record.agentToken,
        networkIndex: record.networkIndex,
      });
      if (this.agentsEnabled) await this.initAgent(record);
      this.transition(record, "running");
      log.info({ template }, "sandbox created");
      return record;
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      log.error({ err: reason }, "sandbox create failed");
      await this.deps.runtime.destroy(record.id, record.networkIndex).catch(() => undefined);
      this.transition(record, "error", reason);
      throw err instanceof BurrowError ? err : new BurrowError(ErrorCode.RuntimeFailed, reason, { cause: err });
    }
  }

  private async initAgent(record: SandboxRecord): Promise<void> {
    const agent = this.agentEndpoint(record);
    await waitForAgent(agent, record.agentToken, AGENT_READY_TIMEOUT_MS);
    const res = await agentRequest(agent, record.agentToken, "POST", "/init", { envVars: record.env });
    if (res.status >= 300) {
      throw new BurrowError(ErrorCode.RuntimeFailed, `the sandbox agent refused init (${res.status}): ${res.body}`);
    }
  }

  agentEndpoint(record: SandboxRecord): AgentEndpoint {
    return this.deps.runtime.agentEndpoint(record.id, record.networkIndex);
  }

  get(id: string): SandboxRecord {
    const record = this.deps.store.get(id);
    if (!record || record.state === "deleted") {
      throw new BurrowError(ErrorCode.SandboxNotFound, `sandbox ${id} not found`, { details: { sandboxId: id } });
    }
    return record;
  }

  /** A sandbox that can serve requests now, or a clear error saying why not. */
  getRunning(id: string): SandboxRecord {
    const record = this.get(id);
    if (record.state !== "running") {
      const why = record.state === "error" ? `: ${record.error ?? "unknown error"}` : "";
      throw new BurrowError(ErrorCode.SandboxNotRunning, `sandbox ${id} is ${record.state}${why}`, {
        details: { sandboxId: id, state: record.state },
      });
    }
    return record;
  }

  /** The error a request to a sandbox that is not running gets. */
  getRunningError(id: string): BurrowError {
    try {
      this.getRunning(id);
      return new BurrowError(ErrorCode.SandboxUnreachable, `sandbox ${id} is not answering`);
    } catch (err) {
      return err as BurrowError;
    }
  }

  list(metadata: Record<string, string> = {}): SandboxRecord[] {
    const wanted = Object.entries(metadata);
    return this.deps.store.listLive().filter((r) => wanted.every(([k, v]) => r.metadata[k] === v));
  }

  /** Deletes a sandbox and everything it had on the host. False when it did not exist. */
  async delete(id: string): Promise<boolean> {
    const record = this.deps.store.get(id);
    if (!record || record.state === "deleted") return false;
    if (record.state !== "deleting") this.transition(record, "deleting");
    try {
      await this.deps.runtime.destroy(id, record.networkIndex);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      this.transition(record, "error", `delete failed: ${reason}`);
      throw err;
    }
    this.transition(record, "deleted");
    this.deps.logger.info({ sandboxId: id }, "sandbox deleted");
    return true;
  }

  /** Marks a running sandbox whose runtime process is gone as `error`, keeping its files. */
  async checkAlive(record: SandboxRecord): Promise<boolean> {
    if (record.state !== "running") return record.state !== "error";
    const status = await this.deps.runtime.status(record.id);
    if (status.status === "running" || status.status === "paused") return true;
    const tail = await this.deps.runtime.agentLogTail(record.id);
    const reason = `the sandbox process exited unexpectedly (runsc: ${status.status})${tail ? `; agent log: ${tail}` : ""}`;
    this.transition(record, "error", reason);
    this.deps.logger.warn({ sandboxId: record.id, reason }, "sandbox died");
    return false;
  }

  /** Marks running sandboxes whose runsc process is gone as `error`. Runs periodically. */
  async checkAll(): Promise<void> {
    const live = await this.deps.runtime.list();
    const running = new Set(live.filter((s) => s.status === "running" || s.status === "paused").map((s) => s.id));
    for (const record of this.deps.store.listLive()) {
      if (record.state === "running" && !running.has(record.id)) await this.checkAlive(record);
    }
  }

  /**
   * Brings the database in line with the host after a start, including after a SIGKILL:
   * finishes interrupted deletes, fails interrupted creates, and notices dead sandboxes.
   */
  async reconcileAtStart(): Promise<void> {
    for (const record of this.deps.store.listLive()) {
      if (record.state === "deleting") {
        await this.delete(record.id).catch((err: unknown) =>
          this.deps.logger.error({ sandboxId: record.id, err: String(err) }, "finishing delete failed"),
        );
      } else if (record.state === "starting") {
        await this.deps.runtime.destroy(record.id, record.networkIndex).catch(() => undefined);
        this.transition(record, "error", "creation was interrupted (the server stopped mid-create)");
      }
    }
    await this.checkAll();
  }
}
