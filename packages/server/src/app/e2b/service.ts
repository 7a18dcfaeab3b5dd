import { randomBytes } from "node:crypto";
import { BurrowError, DEFAULT_LIFECYCLE, ErrorCode, isSandboxId, type Logger } from "@burrow/core";
import type { EgressService } from "../../egress/egress-service.js";
import type { ActivityTracker } from "../../services/activity.js";
import type { AgentClient } from "../../services/agent-client.js";
import type { LifecycleService } from "../../services/lifecycle.js";
import type { SandboxService } from "../../services/sandbox-service.js";
import type { E2bStore } from "../../store/e2b-store.js";
import type { SandboxRecord } from "../../store/sandbox-store.js";
import { type E2bNetworkInput, e2bEgressPolicy } from "./network.js";
import { encodeNextToken, type ListQuery, type NewSandbox } from "./schemas.js";
import {
  type AgentMetrics,
  DEFAULT_TIMEOUT_S,
  type E2bListedSandbox,
  type E2bMetric,
  type E2bSandbox,
  type E2bSandboxDetail,
  e2bState,
  type OnTimeout,
  onTimeoutOf,
  policyFor,
  timeoutMsOf,
  timeoutSecondsToMs,
  toE2bDetail,
  toE2bListed,
  toE2bMetric,
  toE2bSandbox,
  withTimeout,
} from "./wire.js";

export interface E2bDeps {
  sandboxes: SandboxService;
  /** Egress policies (E2B's allowOut/denyOut, allow_internet_access) when given. */
  egress?: EgressService;
  lifecycle: LifecycleService;
  activity: ActivityTracker;
  store: E2bStore;
  agents: AgentClient;
  logger: Logger;
  now?: () => number;
}

const ASLEEP = new Set(["standby", "hibernating", "hibernated", "waking"]);

function notFound(id: string): BurrowError {
  return new BurrowError(ErrorCode.SandboxNotFound, `sandbox ${id} not found`, { details: { sandboxId: id } });
}

/** E2B template names that mean a Burrow template: `@e2b/code-interpreter` asks for its own. */
const E2B_TEMPLATE_ALIASES: Readonly<Record<string, string>> = { "code-interpreter-v1": "code-interpreter" };

/** E2B's sandbox operations, expressed with Burrow's services. */
export class E2bService {
  private readonly now: () => number;

  constructor(private readonly deps: E2bDeps) {
    this.now = deps.now ?? (() => Date.now());
  }

  /** The sandbox, or 404 for ids that are not Burrow's, deleted, or being deleted. */
  get(id: string): SandboxRecord {
    if (!isSandboxId(id)) throw notFound(id);
    const record = this.deps.sandboxes.get(id);
    if (record.state === "deleting") throw notFound(id);
    return record;
  }

  private onTimeoutOf(record: SandboxRecord): OnTimeout {
    return this.deps.store.onTimeout(record.id) ?? onTimeoutOf(record.lifecycle);
  }

  async create(req: NewSandbox, domain: string | null): Promise<E2bSandbox> {
    const onTimeout: OnTimeout = req.autoPause ? "pause" : "kill";
    const timeoutMs = timeoutSecondsToMs(req.timeout ?? DEFAULT_TIMEOUT_S);
    // Checked before anything starts: a bad entry is a 400 and no sandbox.
    const policy = e2bEgressPolicy(req.allow_internet_access, req.network);
    const record = await this.deps.sandboxes.create(
      {
        template: E2B_TEMPLATE_ALIASES[req.templateID] ?? req.templateID,
        env: req.envVars ?? {},
        metadata: req.metadata ?? {},
        lifecycle: policyFor(onTimeout, timeoutMs, DEFAULT_LIFECYCLE),
      },
      policy,
    );
    this.deps.store.setOnTimeout(record.id, onTimeout);
    if (req.autoPause && req.autoPauseMemory === false) this.deps.store.setAutoPauseMemory(record.id, false);
    const trafficToken =
      req.network?.allowPublicTraffic === false ? `e2b_tat_${randomBytes(24).toString("hex")}` : null;
    const maskRequestHost = req.network?.maskRequestHost ?? null;
    if (trafficToken !== null || maskRequestHost !== null) {
      this.deps.store.setIngress(record.id, { trafficToken, maskRequestHost });
    }
    return this.toE2b(record, domain);
  }

  /** E2B's network update: the egress settings are replaced; what is left out is cleared. */
  async updateNetwork(id: string, allowInternetAccess: boolean | undefined, network: E2bNetworkInput): Promise<void> {
    const record = this.get(id);
    const policy = e2bEgressPolicy(allowInternetAccess, network) ?? { default: "allow", allow: [], deny: [] };
    if (!this.deps.egress) {
      throw new BurrowError(ErrorCode.ServiceUnavailable, "this server does not enforce egress policies");
    }
    await this.deps.egress.set(record, policy);
  }

  detail(id: string, domain: string | null): E2bSandboxDetail {
    const record = this.get(id);
    const detail = toE2bDetail(record, this.deps.activity.idleMs(id), this.now(), domain);
    detail.lifecycle.onTimeout = this.onTimeoutOf(record);
    const ingress = this.deps.store.ingress(record.id);
    if (ingress && (ingress.trafficToken !== null || ingress.maskRequestHost !== null)) {
      detail.network = {
        allowPublicTraffic: ingress.trafficToken === null,
        ...(ingress.maskRequestHost !== null ? { maskRequestHost: ingress.maskRequestHost } : {}),
      };
    }
    return detail;
  }

  /**
   * Wakes the sandbox if it sleeps and makes it run until at least `timeoutS` from now (endAt
   * only ever moves forward), restoring the kill-on-timeout policy a pause suspended. With
   * `memory: false`, or after a pause without memory, the sandbox is started afresh on its files
   * (E2B's "reboot"), which is also how an `error` sandbox comes back.
   */
  async connect(
    id: string,
    opts: { timeoutS?: number | undefined; memory?: boolean | undefined },
    domain: string | null,
  ): Promise<{ resumed: boolean; sandbox: E2bSandbox }> {
    const record = this.get(id);
    const resumed = ASLEEP.has(record.state) || record.state === "error";
    const requestedMs = timeoutSecondsToMs(opts.timeoutS ?? DEFAULT_TIMEOUT_S);
    if (record.state === "running" && !this.extends(record, requestedMs)) {
      // E2B moves endAt only forward: a connect that would end sooner changes nothing, and is
      // not counted as activity either (activity would restart the idle clock and move endAt).
      this.deps.store.setPausedMemory(id, undefined);
      return { resumed, sandbox: this.toE2b(record, domain) };
    }
    const fresh = opts.memory === false || (resumed && this.deps.store.bootsFreshOnConnect(id));
    if (fresh && record.state !== "running") await this.deps.lifecycle.restart(id);
    else if (record.state === "error") {
      throw new BurrowError(
        ErrorCode.SandboxNotRunning,
        `sandbox ${id} is error: ${record.error ?? "unknown"}; connect with onResume 'reboot' to start it afresh on its files`,
        { details: { sandboxId: id, state: record.state } },
      );
    }
    const awake = await this.deps.lifecycle.ensureAwake(id);
    const currentMs = timeoutMsOf(awake.lifecycle);
    // Only ever extended; 0 (a Burrow sandbox that never times out) stays so.
    const timeoutMs = currentMs === 0 ? 0 : Math.max(currentMs, requestedMs);
    const policy = policyFor(this.onTimeoutOf(awake), timeoutMs, awake.lifecycle);
    this.deps.sandboxes.update(id, { lifecycle: policy });
    this.deps.store.setPausedMemory(id, undefined);
    return { resumed, sandbox: this.toE2b(awake, domain) };
  }

  private toE2b(record: SandboxRecord, domain: string | null): E2bSandbox {
    return toE2bSandbox(record, domain, this.deps.store.ingress(record.id)?.trafficToken ?? null);
  }

  /** Whether `now + requestedMs` lies after the sandbox's current endAt (never, for a sandbox without timeout). */
  private extends(record: SandboxRecord, requestedMs: number): boolean {
    const currentMs = timeoutMsOf(record.lifecycle);
    if (currentMs === 0) return false;
    return requestedMs > currentMs - this.deps.activity.idleMs(record.id);
  }

  /** E2B's deprecated resume: like connect, but 409 when the sandbox is already running. */
  async resume(id: string, timeoutS: number | undefined, domain: string | null): Promise<E2bSandbox> {
    const record = this.get(id);
    if (record.state === "running" || record.state === "starting") {
      throw new BurrowError(ErrorCode.Conflict, `sandbox ${id} is already running`, { details: { sandboxId: id } });
    }
    return (await this.connect(id, { timeoutS }, domain)).sandbox;
  }

  /**
   * E2B pause = Burrow hibernation: memory, processes and files written to disk. A sandbox that
   * E2B would kill on timeout stops being deleted while paused (its timeout becomes the idle time
   * before it sleeps again after an implicit wake); connect turns deletion back on. Without
   * memory (`keepMemory: false`) the next connect starts the sandbox afresh on its files.
   */
  async pause(id: string, keepMemory = true): Promise<void> {
    const record = this.get(id);
    if (record.state === "hibernated" || record.state === "hibernating") {
      throw new BurrowError(ErrorCode.Conflict, `sandbox ${id} is already paused`, { details: { sandboxId: id } });
    }
    if (record.state !== "running" && record.state !== "standby") {
      throw new BurrowError(ErrorCode.Conflict, `sandbox ${id} is ${record.state} and cannot be paused`, {
        details: { sandboxId: id, state: record.state },
      });
    }
    const timeoutMs = timeoutMsOf(record.lifecycle) || timeoutSecondsToMs(DEFAULT_TIMEOUT_S);
    const killMode = onTimeoutOf(record.lifecycle) === "kill";
    if (killMode) {
      this.deps.store.setOnTimeout(id, "kill");
      this.deps.sandboxes.update(id, { lifecycle: policyFor("pause", timeoutMs, record.lifecycle) });
    }
    try {
      await this.deps.lifecycle.hibernate(id, "paused through the E2B API");
    } catch (err) {
      if (killMode) this.deps.sandboxes.update(id, { lifecycle: record.lifecycle });
      // E2B clients read 409 as "already paused"; a pause that could not happen now is not that.
      if (err instanceof BurrowError && err.status === 409) {
        throw new BurrowError(ErrorCode.ServiceUnavailable, `sandbox ${id} could not be paused now: ${err.message}`, {
          cause: err,
        });
      }
      throw err;
    }
    if (this.deps.store.onTimeout(id) === undefined) this.deps.store.setOnTimeout(id, onTimeoutOf(record.lifecycle));
    this.deps.store.setPausedMemory(id, keepMemory);
  }

  setTimeout(id: string, timeoutS: number): void {
    const record = this.get(id);
    // update() also counts as activity, so the timeout runs from now, as E2B's does.
    this.deps.sandboxes.update(id, { lifecycle: withTimeout(record.lifecycle, timeoutSecondsToMs(timeoutS)) });
  }

  /** E2B's refresh: keeps the sandbox from timing out for `durationS` more seconds. */
  refresh(id: string, durationS: number | undefined): void {
    const record = this.get(id);
    const ms = durationS === undefined ? timeoutMsOf(record.lifecycle) : durationS * 1000;
    if (ms > 0) this.deps.activity.keepAlive(id, ms);
    else this.deps.activity.touch(id);
  }

  async kill(id: string): Promise<boolean> {
    if (!isSandboxId(id)) return false;
    try {
      this.deps.sandboxes.get(id);
    } catch (err) {
      if (err instanceof BurrowError && err.code === ErrorCode.SandboxNotFound) return false;
      throw err;
    }
    // Its E2B options, egress policy and other rows go with it (SandboxService.delete).
    return this.deps.sandboxes.delete(id);
  }

  /** One page of sandboxes matching the query, and the token of the next page, if any. */
  list(query: ListQuery): { page: E2bListedSandbox[]; nextToken: string | undefined; running: number } {
    const now = this.now();
    const sign = query.order === "asc" ? 1 : -1;
    const compare = (a: { createdAt: string; id: string }, b: { createdAt: string; id: string }) =>
      sign * (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
    const matching = this.deps.sandboxes
      .list(query.metadata)
      .filter(
        (r) =>
          r.state !== "deleting" &&
          query.states.has(e2bState(r.state)) &&
          (query.template === undefined || r.template === query.template) &&
          (query.startedAfter === undefined || Date.parse(r.createdAt) >= query.startedAfter),
      )
      .sort(compare);
    const after = query.after;
    const rest = after ? matching.filter((r) => compare(r, after) > 0) : matching;
    const page = rest.slice(0, query.limit);
    const last = page[page.length - 1];
    const nextToken = rest.length > page.length && last ? encodeNextToken(last.createdAt, last.id) : undefined;
    return {
      page: page.map((r) => toE2bListed(r, this.deps.activity.idleMs(r.id), now)),
      nextToken,
      running: matching.filter((r) => e2bState(r.state) === "running").length,
    };
  }

  /**
   * The sandbox's current CPU, memory and disk use, sampled by its agent. A sleeping sandbox has
   * no current sample (reading metrics must not wake it), so its list is empty.
   */
  async metrics(id: string, startS?: number, endS?: number): Promise<E2bMetric[]> {
    const record = this.get(id);
    if (record.state !== "running") return [];
    const sample = await this.deps.agents
      .metrics(this.deps.sandboxes.agentEndpoint(record), record.agentToken)
      .catch((err: unknown) => {
        this.deps.logger.warn({ sandboxId: id, err: String(err) }, "agent metrics failed");
        return undefined;
      });
    if (sample === undefined) return [];
    let metric: E2bMetric;
    try {
      metric = toE2bMetric(sample as AgentMetrics);
    } catch {
      return [];
    }
    if (startS !== undefined && metric.timestampUnix < startS) return [];
    if (endS !== undefined && metric.timestampUnix > endS) return [];
    return [metric];
  }
}
