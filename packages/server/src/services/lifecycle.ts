import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { BurrowError, ErrorCode, errorMessage, type LifecyclePolicy, type Logger } from "@burrow/core";
import type { Runtime } from "@burrow/runtime";
import type { SandboxRecord, SandboxStore } from "../store/sandbox-store.js";
import type { Catalog } from "../templates/catalog.js";
import type { ActivityTracker } from "./activity.js";
import type { AgentClient } from "./agent-client.js";
import { runBeforeHibernate } from "./before-hibernate.js";
import type { KeyedMutex } from "./keyed-mutex.js";
import type { Transitions } from "./transitions.js";

/** After a failed hibernation (disk full, say) the sandbox stays in standby this long before a retry. */
const HIBERNATE_RETRY_MS = 60_000;

export interface LifecycleDeps {
  store: SandboxStore;
  runtime: Runtime;
  templates: Catalog;
  transitions: Transitions;
  activity: ActivityTracker;
  locks: KeyedMutex;
  logger: Logger;
  /** Directory of a sandbox's checkpoint image while it hibernates. */
  imageDirOf: (id: string) => string;
  agents: AgentClient;
  /** The clock of the sleep policy (tests move it). */
  now?: () => number;
}

/**
 * Sleep and wake: standby (frozen, memory resident), hibernation (memory and processes in a
 * checkpoint image on disk) and waking on demand, one operation per sandbox at a time, with
 * every transition written before it is performed.
 */
export class LifecycleService {
  private readonly wakes = new Map<string, Promise<SandboxRecord>>();
  private readonly hibernateRetryAt = new Map<string, number>();

  private readonly now: () => number;

  constructor(private readonly deps: LifecycleDeps) {
    this.now = deps.now ?? (() => Date.now());
  }

  private async load(id: string): Promise<SandboxRecord> {
    const record = await this.deps.store.get(id);
    if (!record || record.state === "deleted") {
      throw new BurrowError(ErrorCode.SandboxNotFound, `sandbox ${id} not found`, { details: { sandboxId: id } });
    }
    return record;
  }

  private notServing(record: SandboxRecord): BurrowError {
    const why = record.state === "error" ? `: ${record.error ?? "unknown error"}` : "";
    const hint = record.state === "error" ? " (POST /v1/sandboxes/{id}/restart starts it again on its files)" : "";
    return new BurrowError(ErrorCode.SandboxNotRunning, `sandbox ${record.id} is ${record.state}${why}${hint}`, {
      details: { sandboxId: record.id, state: record.state },
    });
  }

  /** The sandbox, running: woken first if it sleeps. Concurrent callers share one wake. */
  async ensureAwake(id: string): Promise<SandboxRecord> {
    this.deps.activity.touch(id);
    const record = await this.load(id);
    if (record.state === "running") return record;
    if (!["standby", "hibernated", "hibernating", "waking"].includes(record.state)) throw this.notServing(record);
    let wake = this.wakes.get(id);
    if (!wake) {
      wake = this.deps.locks.run(id, () => this.wakeLocked(id)).finally(() => this.wakes.delete(id));
      this.wakes.set(id, wake);
    }
    return wake;
  }

  private async wakeLocked(id: string): Promise<SandboxRecord> {
    const record = await this.load(id);
    const started = performance.now();
    if (record.state === "running") return record;
    if (record.state === "standby") {
      await this.deps.runtime.resume(id);
      await this.deps.transitions.move(record, "running", {
        type: "woken",
        reason: "activity while in standby",
        durationMs: performance.now() - started,
      });
      return record;
    }
    if (record.state !== "hibernated") throw this.notServing(record);
    await this.deps.transitions.move(record, "waking", { reason: "activity while hibernated" });
    const imageDir = this.deps.imageDirOf(id);
    try {
      if (!existsSync(join(imageDir, "checkpoint.img"))) throw new Error(`checkpoint image missing in ${imageDir}`);
      this.deps.agents.disconnect(this.agent(record));
      await this.deps.runtime.restore({ ...(await this.specOf(record)), imageDir });
      await this.deps.agents.waitReady(this.agent(record), record.agentToken);
    } catch (err) {
      // A restore that started but never answered must not keep running unseen.
      await this.deps.runtime.stop(id).catch(() => undefined);
      await this.deps.transitions.move(record, "error", {
        type: "wake_failed",
        reason: "restoring from hibernation failed",
        error: `waking from hibernation failed: ${errorMessage(err)}; the files are kept — restart the sandbox to start it afresh on them`,
      });
      throw new BurrowError(ErrorCode.RuntimeFailed, `sandbox ${id} could not be woken: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    await rm(imageDir, { recursive: true, force: true });
    await this.deps.transitions.move(record, "running", {
      type: "woken",
      reason: "restored from hibernation",
      durationMs: performance.now() - started,
    });
    return record;
  }

  private async specOf(record: SandboxRecord) {
    return {
      id: record.id,
      networkIndex: record.networkIndex,
      templateLayers: await this.deps.templates.layersOf(record),
      agentToken: record.agentToken,
    };
  }

  private agent(record: SandboxRecord) {
    return this.deps.runtime.agentEndpoint(record.id, record.networkIndex);
  }

  /** running → standby. With `ifIdleForMs`, only when still idle that long once the lock is held. */
  pause(id: string, reason = "requested", ifIdleForMs?: number): Promise<SandboxRecord> {
    return this.deps.locks.run(id, async () => {
      const record = await this.load(id);
      if (record.state === "standby" || record.state === "hibernated") return record;
      if (ifIdleForMs !== undefined && this.deps.activity.idleMs(id) < ifIdleForMs) return record;
      if (record.state !== "running") throw this.notServing(record);
      const started = performance.now();
      await this.deps.transitions.move(record, "standby", { reason });
      try {
        await this.deps.runtime.pause(id);
      } catch (err) {
        await this.deps.transitions.move(record, "running", { type: "standby_failed", reason: errorMessage(err) });
        throw err;
      }
      await this.deps.transitions.record(id, {
        type: "paused",
        reason: "processes frozen",
        durationMs: performance.now() - started,
      });
      return record;
    });
  }

  /** running|standby → hibernated: memory and processes written to disk. */
  hibernate(id: string, reason = "requested"): Promise<SandboxRecord> {
    return this.deps.locks.run(id, async () => {
      const record = await this.load(id);
      if (record.state === "hibernated") return record;
      if (record.state !== "running" && record.state !== "standby") throw this.notServing(record);
      const previous = record.state;
      const started = performance.now();
      await this.deps.transitions.move(record, "hibernating", { reason });
      const imageDir = this.deps.imageDirOf(id);
      try {
        const hook = record.lifecycle.beforeHibernate;
        if (hook) {
          // The hook runs in the sandbox, which standby froze: it thaws for it.
          if (previous === "standby") await this.deps.runtime.resume(id);
          const ran = await runBeforeHibernate(this.deps.agents, this.agent(record), record.agentToken, hook);
          await this.deps.transitions.record(id, { type: "before_hibernate", ...ran });
        }
        await rm(imageDir, { recursive: true, force: true });
        // Our pooled keep-alive connections must be closed before the checkpoint (see runtime).
        this.deps.agents.disconnect(this.agent(record));
        await this.deps.runtime.checkpoint(id, record.networkIndex, imageDir);
      } catch (err) {
        await this.afterFailedHibernate(record, previous, err);
        throw err;
      }
      this.deps.agents.disconnect(this.agent(record));
      this.hibernateRetryAt.delete(id);
      await this.deps.transitions.move(record, "hibernated", {
        reason: "memory and processes saved to disk",
        durationMs: performance.now() - started,
      });
      return record;
    });
  }

  private async afterFailedHibernate(record: SandboxRecord, previous: "running" | "standby", err: unknown) {
    await rm(this.deps.imageDirOf(record.id), { recursive: true, force: true }).catch(() => undefined);
    const status = await this.deps.runtime.status(record.id).catch(() => null);
    if (status && (status.status === "running" || status.status === "paused")) {
      this.hibernateRetryAt.set(record.id, this.now() + HIBERNATE_RETRY_MS);
      await this.deps.transitions.move(record, previous, {
        type: "hibernate_failed",
        reason: `hibernation failed, still ${previous}, retried later: ${errorMessage(err)}`,
      });
      if (previous === "standby") await this.deps.runtime.pause(record.id).catch(() => undefined);
      return;
    }
    await this.deps.transitions.move(record, "error", {
      type: "hibernate_failed",
      reason: "hibernation failed and the sandbox stopped",
      error: `hibernation failed: ${errorMessage(err)}; the files are kept — restart the sandbox to start it afresh on them`,
    });
  }

  /** Starts the sandbox afresh on its files (from error, or discarding sleeping processes). */
  restart(id: string): Promise<SandboxRecord> {
    return this.deps.locks.run(id, async () => {
      const record = await this.load(id);
      if (record.state === "deleting" || record.state === "starting") throw this.notServing(record);
      const started = performance.now();
      if (record.state === "standby") await this.deps.runtime.resume(id).catch(() => undefined);
      await this.deps.transitions.move(record, "starting", { type: "restarting", reason: "restart requested" });
      try {
        this.deps.agents.disconnect(this.agent(record));
        await this.deps.runtime.restart(await this.specOf(record));
        await rm(this.deps.imageDirOf(id), { recursive: true, force: true });
        await this.initAgent(record);
      } catch (err) {
        await this.deps.runtime.stop(id).catch(() => undefined);
        await this.deps.transitions.move(record, "error", {
          type: "restart_failed",
          reason: errorMessage(err),
          error: errorMessage(err),
        });
        throw err;
      }
      await this.deps.transitions.move(record, "running", {
        type: "restarted",
        reason: "started afresh on its files",
        durationMs: performance.now() - started,
      });
      return record;
    });
  }

  async initAgent(record: SandboxRecord): Promise<void> {
    const agent = this.agent(record);
    await this.deps.agents.waitReady(agent, record.agentToken);
    // The template's WORKDIR is where commands naming no cwd run (E2B's setWorkdir, Docker's exec).
    const version =
      record.templateVersion === undefined ? undefined : await this.deps.templates.version(record.templateVersion);
    await this.deps.agents.init(agent, record.agentToken, record.env, version?.config.workdir);
  }

  async keepAlive(id: string, durationMs?: number): Promise<SandboxRecord> {
    const record = await this.load(id);
    this.deps.activity.keepAlive(id, durationMs ?? (record.lifecycle.standbyAfterMs || 15_000));
    return record;
  }

  /**
   * One pass of the sleep policy: idle running sandboxes go to standby, long standby ones
   * hibernate, and sandboxes with deleteAfterMs go away when idle that long.
   */
  async tick(deleteSandbox: (id: string) => Promise<unknown>): Promise<void> {
    const now = this.now();
    for (const record of await this.deps.store.listAwakeOrExpiring()) {
      if (this.deps.locks.busy(record.id)) continue;
      const policy: LifecyclePolicy = record.lifecycle;
      const idle = this.deps.activity.idleMs(record.id);
      try {
        if (policy.deleteAfterMs > 0 && idle >= policy.deleteAfterMs && record.state !== "deleting") {
          await deleteSandbox(record.id);
        } else if (record.state === "running" && policy.standbyAfterMs > 0 && idle >= policy.standbyAfterMs) {
          await this.pause(record.id, `idle for ${Math.round(idle / 1000)} s`, policy.standbyAfterMs);
        } else if (
          record.state === "standby" &&
          policy.hibernateAfterMs > 0 &&
          now - Date.parse(record.stateSince) >= policy.hibernateAfterMs &&
          now >= (this.hibernateRetryAt.get(record.id) ?? 0) &&
          idle > 0
        ) {
          await this.hibernate(
            record.id,
            `in standby for ${Math.round((now - Date.parse(record.stateSince)) / 1000)} s`,
          );
        }
      } catch (err) {
        this.deps.logger.warn({ sandboxId: record.id, err: errorMessage(err) }, "lifecycle step failed");
      }
    }
  }
}
