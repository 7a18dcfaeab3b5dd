import { DEFAULT_LIFECYCLE, type Logger, type SandboxResources } from "@burrow/core";
import { warmPoolKey } from "../config.js";
import type { SandboxRecord, SandboxStore } from "../store/sandbox-store.js";
import type { ActivityTracker } from "./activity.js";
import type { AgentClient } from "./agent-client.js";
import type { KeyedMutex } from "./keyed-mutex.js";
import {
  type ClaimRequest,
  PENDING_FORK,
  type SandboxService,
  TEMPLATE_BUILD_POOL,
  type WarmSource,
} from "./sandbox-service.js";
import type { Transitions } from "./transitions.js";

const REFILL_BACKOFF_MS = 5_000;
/** How often the pool looks for sandboxes of a version their tag has moved away from. */
const REFRESH_MS = 1_000;

function sameResources(a: SandboxResources, b: SandboxResources): boolean {
  return a.vcpus === b.vcpus && a.memoryMb === b.memoryMb && a.pids === b.pids && a.diskMb === b.diskMb;
}

/**
 * Pre-started sandboxes per template (`name` or `name:tag`, see warmPoolKey), so a create can
 * return a running sandbox in a few ms. Pool sandboxes use the default resources; a create asking
 * for other limits starts cold. They are invisible to list/get and exempt from sleeping until
 * claimed. Each pool holds sandboxes of the version its tag points at now: once the tag moves,
 * older ones are deleted (at the next refresh or claim) and replaced.
 */
export class WarmPool implements WarmSource {
  private readonly ready = new Map<string, string[]>();
  private readonly refilling = new Set<string>();
  private closed = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sizes: Record<string, number>,
    private readonly deps: {
      sandboxes: SandboxService;
      store: SandboxStore;
      transitions: Transitions;
      activity: ActivityTracker;
      locks: KeyedMutex;
      logger: Logger;
      agents: AgentClient;
      /** The version `ref` resolves to now; undefined when it resolves to none. */
      currentVersion: (ref: string) => Promise<string | undefined>;
      now?: () => Date;
    },
  ) {}

  /** Adopts pool sandboxes from a previous run and starts filling. */
  async start(): Promise<void> {
    for (const record of await this.deps.store.listLive()) {
      // A fork's sandboxes are not the pool's (reconcile deletes those of an interrupted fork).
      if (record.pool === PENDING_FORK || record.pool === TEMPLATE_BUILD_POOL) continue;
      if (record.pool === null) continue;
      // Kept when its pool is still configured (a stale version is replaced at the first refresh).
      if (record.state === "running" && this.sizes[record.pool] !== undefined) this.list(record.pool).push(record.id);
      else void this.deps.sandboxes.delete(record.id).catch(() => false);
    }
    for (const template of Object.keys(this.sizes)) this.refill(template);
    if (Object.keys(this.sizes).length > 0) {
      this.timer = setInterval(() => {
        this.refresh().catch((err: unknown) => this.deps.logger.warn({ err: String(err) }, "warm pool refresh failed"));
      }, REFRESH_MS);
      this.timer.unref();
    }
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
  }

  /** Whether a pool sandbox is of the version its pool's tag points at now. */
  private current(record: SandboxRecord, version: string | undefined): boolean {
    return record.templateVersion === undefined || record.templateVersion === version;
  }

  /** Deletes the ready sandboxes of versions their tag has moved away from, and refills. */
  async refresh(): Promise<void> {
    if (this.closed) return;
    for (const template of Object.keys(this.sizes)) {
      const ids = [...this.list(template)];
      if (ids.length === 0) continue;
      const version = await this.version(template);
      const found: string[] = [];
      for (const id of ids) {
        const record = await this.deps.store.get(id);
        if (record !== undefined && !this.current(record, version)) found.push(id);
      }
      // Only those still ready: a claim during the reads handed some to a user.
      const ready = this.list(template);
      const stale = found.filter((id) => ready.includes(id));
      if (stale.length === 0) continue;
      this.ready.set(
        template,
        ready.filter((id) => !stale.includes(id)),
      );
      this.deps.logger.info({ template, count: stale.length }, "warm pool: the tag moved; replacing its sandboxes");
      for (const id of stale) void this.deps.sandboxes.delete(id).catch(() => false);
      this.refill(template);
    }
  }

  private async version(template: string): Promise<string | undefined> {
    try {
      return await this.deps.currentVersion(template);
    } catch {
      return undefined;
    }
  }

  private list(template: string): string[] {
    let ids = this.ready.get(template);
    if (!ids) {
      ids = [];
      this.ready.set(template, ids);
    }
    return ids;
  }

  size(template: string): number {
    return this.list(template).length;
  }

  /** Ready and target sizes per template, for the health endpoint. */
  status(): Record<string, { ready: number; target: number }> {
    const out: Record<string, { ready: number; target: number }> = {};
    for (const [template, target] of Object.entries(this.sizes)) out[template] = { ready: this.size(template), target };
    return out;
  }

  /**
   * A running pool sandbox of template `ref` handed to the caller with its metadata and env, or
   * undefined. `versionId` is the version `ref` resolves to now: older pool sandboxes are deleted.
   */
  async claim(
    ref: string,
    resources: SandboxResources,
    request: ClaimRequest,
    versionId?: string,
  ): Promise<SandboxRecord | undefined> {
    const template = warmPoolKey(ref);
    if (template === undefined || this.sizes[template] === undefined) return undefined;
    if (!sameResources(resources, this.deps.sandboxes.defaultResources())) return undefined;
    const ids = this.list(template);
    while (ids.length > 0) {
      const id = ids.shift() as string;
      const record = await this.deps.store.get(id);
      if (record && versionId !== undefined && !this.current(record, versionId)) {
        void this.deps.sandboxes.delete(id).catch(() => false);
        continue;
      }
      const claimed = await this.deps.locks
        .run(id, () => this.claimOne(id, request))
        .catch((err: unknown) => {
          this.deps.logger.warn({ sandboxId: id, err: String(err) }, "claiming a warm sandbox failed");
          void this.deps.sandboxes.delete(id).catch(() => undefined);
          return undefined;
        });
      this.refill(template);
      if (claimed) return claimed;
    }
    this.refill(template);
    return undefined;
  }

  private async claimOne(id: string, request: ClaimRequest): Promise<SandboxRecord | undefined> {
    const record = await this.deps.store.get(id);
    if (!record || record.pool === null || record.state !== "running") return undefined;
    if (Object.keys(request.env).length > 0) {
      await this.deps.agents.init(this.deps.sandboxes.agentEndpoint(record), record.agentToken, request.env);
    }
    const now = (this.deps.now?.() ?? new Date()).toISOString();
    await this.deps.store.claim(id, request.metadata, request.env, request.lifecycle, now);
    // A claim is activity: idle time counts from here, not from when the pool started it.
    this.deps.activity.touch(id);
    await this.deps.transitions.record(id, { type: "claimed", reason: "handed out from the warm pool" });
    return await this.deps.store.get(id);
  }

  /** Pool sandboxes nobody will claim: failed ones are deleted rather than kept hidden. */
  private async discardFailed(template: string): Promise<void> {
    for (const record of await this.deps.store.listLive()) {
      if (record.pool === template && record.state === "error")
        await this.deps.sandboxes.delete(record.id).catch(() => false);
    }
  }

  /** Deletes the unclaimed sandboxes (on a graceful shutdown; after a crash they are adopted). */
  async drain(): Promise<void> {
    this.close();
    for (const [template, ids] of this.ready) {
      for (const id of ids.splice(0)) await this.deps.sandboxes.delete(id).catch(() => false);
      await this.discardFailed(template);
    }
  }

  /** Starts sandboxes in the background until the template's pool is full again. */
  refill(template: string): void {
    const target = this.sizes[template] ?? 0;
    if (this.closed || target <= 0 || this.refilling.has(template)) return;
    this.refilling.add(template);
    void (async () => {
      try {
        while (!this.closed && this.list(template).length < target) {
          try {
            const record = await this.deps.sandboxes.createFresh(
              template,
              this.deps.sandboxes.defaultResources(),
              { ...DEFAULT_LIFECYCLE },
              {},
              {},
              template,
            );
            if (this.closed) return;
            this.list(template).push(record.id);
          } catch (err) {
            // A refill that failed because the pool was closed (the server stopping) just ends.
            if (this.closed) return;
            this.deps.logger.warn({ template, err: String(err) }, "warm pool refill failed; retrying later");
            await this.discardFailed(template).catch((e: unknown) =>
              this.deps.logger.warn({ template, err: String(e) }, "discarding failed pool sandboxes failed"),
            );
            await new Promise((r) => setTimeout(r, REFILL_BACKOFF_MS));
          }
        }
      } finally {
        this.refilling.delete(template);
      }
    })();
  }
}
