import { errorMessage, type Logger } from "@burrow/core";
import type { Runtime } from "@burrow/runtime";
import type { SandboxRecord } from "../store/sandbox-store.js";
import type { AgentClient } from "./agent-client.js";
import type { Transitions } from "./transitions.js";

export interface AgentGuardDeps {
  runtime: Runtime;
  agents: AgentClient;
  transitions: Transitions;
  logger: Logger;
  /** Starts the sandbox afresh on its files (LifecycleService.restart). */
  restart: (id: string) => Promise<unknown>;
}

/** What the guard needs of a sandbox. */
export type GuardedSandbox = Pick<SandboxRecord, "id" | "networkIndex" | "agentToken">;

/** What a check of the server's token found. */
export type TokenCheck = "valid" | "restored" | "restarted" | "failed";

/**
 * Takes back a sandbox's agent whose access token was changed from inside the sandbox (root in
 * a sandbox can call the agent's `/init` with the token it read from the agent's memory, after
 * which the agent answers 401 to the server). When the agent refuses the server's token, the
 * server leaves the token in the host-written run dir, which the agent reads on its next request
 * with an unknown token; an agent that still refuses (one from an older release) is restarted on
 * its files. Both are recorded as sandbox events.
 */
export class AgentGuard {
  private readonly checks = new Map<string, Promise<TokenCheck>>();

  constructor(private readonly deps: AgentGuardDeps) {}

  /**
   * Called after the agent answered 401 to a request that carried the server's token (a 401 can
   * also mean an unknown user, so the token is probed first). Concurrent calls share one check.
   */
  check(record: GuardedSandbox): Promise<TokenCheck> {
    let running = this.checks.get(record.id);
    if (!running) {
      running = this.run(record).finally(() => this.checks.delete(record.id));
      this.checks.set(record.id, running);
    }
    return running;
  }

  private async accepted(record: GuardedSandbox): Promise<boolean> {
    const agent = this.deps.runtime.agentEndpoint(record.id, record.networkIndex);
    return this.deps.agents.acceptsToken(agent, record.agentToken);
  }

  private async run(record: GuardedSandbox): Promise<TokenCheck> {
    const { transitions, runtime, logger } = this.deps;
    try {
      if (await this.accepted(record)) return "valid";
    } catch (err) {
      // Unreachable is not refused: the caller reports that on its own.
      logger.warn({ sandboxId: record.id, err: errorMessage(err) }, "agent token check failed");
      return "failed";
    }
    try {
      await runtime.provideAgentToken(record.id, record.agentToken);
      if (await this.accepted(record)) {
        await transitions.record(record.id, {
          type: "agent_token_restored",
          reason:
            "the agent refused the server's access token (changed from inside the sandbox); the server handed it the token again through the host-only run dir",
        });
        return "restored";
      }
    } catch (err) {
      logger.warn({ sandboxId: record.id, err: errorMessage(err) }, "handing the agent its token failed");
    }
    await transitions.record(record.id, {
      type: "agent_locked_out",
      reason: "the agent refuses the server's access token and did not take it back; restarting the sandbox",
    });
    try {
      await this.deps.restart(record.id);
      return "restarted";
    } catch (err) {
      logger.warn({ sandboxId: record.id, err: errorMessage(err) }, "restart of a locked-out sandbox failed");
      return "failed";
    }
  }
}
