import type { LifecyclePolicy, SandboxState } from "@burrow/core";
import type { SandboxRecord } from "../../store/sandbox-store.js";

/**
 * E2B's REST wire types (the subset Burrow serves) and the pure translation between them and
 * Burrow's sandboxes. Field names follow E2B's public OpenAPI document.
 */

/** The envd protocol version the agent implements (it sends the same in X-Envd-Version). */
export const ENVD_VERSION = "0.6.4";
/** E2B's deprecated client id; the SDK ignores it but the schema requires it. */
export const CLIENT_ID = "burrow";
/** The port of the sandbox's agent, E2B's envd port. */
export const ENVD_PORT = 49983;
/** Timeout when a create names none: the e2b SDK documents 300 s as its default. */
export const DEFAULT_TIMEOUT_S = 300;
/** What E2B's maskRequestHost writes for the port requested. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: E2B's literal placeholder, not a template
export const PORT_PLACEHOLDER = "${PORT}";
/** What `endAt` says for a sandbox that never expires. */
const NEVER = "9999-12-31T23:59:59.000Z";

export type E2bState = "running" | "paused";
export type OnTimeout = "kill" | "pause";

export interface E2bSandbox {
  templateID: string;
  sandboxID: string;
  alias: string;
  clientID: string;
  envdVersion: string;
  envdAccessToken: string;
  trafficAccessToken: string | null;
  domain: string | null;
}

export interface E2bListedSandbox {
  templateID: string;
  alias: string;
  sandboxID: string;
  clientID: string;
  startedAt: string;
  endAt: string;
  cpuCount: number;
  memoryMB: number;
  diskSizeMB: number;
  metadata: Record<string, string>;
  state: E2bState;
  envdVersion: string;
  volumeMounts: Array<{ name: string; path: string }>;
}

export interface E2bSandboxDetail extends E2bListedSandbox {
  envdAccessToken: string;
  domain: string | null;
  allowInternetAccess: null;
  lifecycle: { onTimeout: OnTimeout; autoResume: boolean };
  /** E2B's ingress options, when the create set any. */
  network?: { allowPublicTraffic: boolean; maskRequestHost?: string };
}

export interface E2bMetric {
  timestamp: string;
  timestampUnix: number;
  cpuCount: number;
  cpuUsedPct: number;
  memUsed: number;
  memTotal: number;
  memCache: number;
  diskUsed: number;
  diskTotal: number;
}

/** Burrow's states as E2B sees them: frozen, hibernating or hibernated is "paused". */
export function e2bState(state: SandboxState): E2bState {
  switch (state) {
    case "starting":
    case "running":
    case "waking":
      return "running";
    default:
      return "paused";
  }
}

/**
 * The timeout mapping. E2B kills (or, with autoPause, pauses) a sandbox `timeout` seconds after
 * create / setTimeout / connect. Burrow measures the same span as idle time, so a sandbox in use
 * never expires under its user:
 * - kill: deleted after `timeout` idle; never frozen before that (`standbyAfterMs` 0), so
 *   background processes keep running until then, as on E2B;
 * - pause: frozen (standby) after `timeout` idle, written to disk (hibernated) after Burrow's
 *   `hibernateAfterMs` in standby; never deleted.
 */
export function policyFor(onTimeout: OnTimeout, timeoutMs: number, base: LifecyclePolicy): LifecyclePolicy {
  return onTimeout === "kill"
    ? { standbyAfterMs: 0, hibernateAfterMs: base.hibernateAfterMs, deleteAfterMs: timeoutMs }
    : { standbyAfterMs: timeoutMs, hibernateAfterMs: base.hibernateAfterMs, deleteAfterMs: 0 };
}

/** A sandbox that will be deleted by its policy is in "kill" mode; any other one only sleeps. */
export function onTimeoutOf(policy: LifecyclePolicy): OnTimeout {
  return policy.deleteAfterMs > 0 ? "kill" : "pause";
}

/** The E2B timeout of a policy in ms; 0 when it never times out. */
export function timeoutMsOf(policy: LifecyclePolicy): number {
  return onTimeoutOf(policy) === "kill" ? policy.deleteAfterMs : policy.standbyAfterMs;
}

/** The policy change that sets a sandbox's E2B timeout, keeping its mode. */
export function withTimeout(policy: LifecyclePolicy, timeoutMs: number): Partial<LifecyclePolicy> {
  return onTimeoutOf(policy) === "kill" ? { deleteAfterMs: timeoutMs } : { standbyAfterMs: timeoutMs };
}

/** E2B timeouts are whole seconds; 0 would mean "never" in Burrow, so the floor is one second. */
export function timeoutSecondsToMs(seconds: number): number {
  return Math.max(1, Math.ceil(seconds)) * 1000;
}

/** When the sandbox times out if nothing uses it: now minus its idle time plus its timeout. */
export function endAtOf(policy: LifecyclePolicy, idleMs: number, nowMs: number): string {
  const timeoutMs = timeoutMsOf(policy);
  if (timeoutMs === 0) return NEVER;
  return new Date(nowMs - idleMs + timeoutMs).toISOString();
}

export function toE2bSandbox(
  record: SandboxRecord,
  domain: string | null,
  trafficAccessToken: string | null = null,
): E2bSandbox {
  return {
    templateID: record.template,
    sandboxID: record.id,
    alias: record.template,
    clientID: CLIENT_ID,
    envdVersion: ENVD_VERSION,
    envdAccessToken: record.agentToken,
    trafficAccessToken,
    domain,
  };
}

export function toE2bListed(record: SandboxRecord, idleMs: number, nowMs: number): E2bListedSandbox {
  return {
    templateID: record.template,
    alias: record.template,
    sandboxID: record.id,
    clientID: CLIENT_ID,
    startedAt: record.createdAt,
    endAt: endAtOf(record.lifecycle, idleMs, nowMs),
    // E2B counts whole cores; a fractional Burrow quota (0.5 vCPU) shows as one.
    cpuCount: Math.max(1, Math.ceil(record.resources.vcpus)),
    memoryMB: record.resources.memoryMb,
    // Burrow sets no disk quota per sandbox.
    diskSizeMB: 0,
    metadata: record.metadata,
    state: e2bState(record.state),
    envdVersion: ENVD_VERSION,
    volumeMounts: [],
  };
}

export function toE2bDetail(
  record: SandboxRecord,
  idleMs: number,
  nowMs: number,
  domain: string | null,
): E2bSandboxDetail {
  const onTimeout = onTimeoutOf(record.lifecycle);
  return {
    ...toE2bListed(record, idleMs, nowMs),
    envdAccessToken: record.agentToken,
    domain,
    allowInternetAccess: null,
    // Every request to a sleeping Burrow sandbox wakes it, so a paused sandbox always auto-resumes.
    lifecycle: { onTimeout, autoResume: onTimeout === "pause" },
  };
}

/** The agent's GET /metrics body (envd's field names). */
export interface AgentMetrics {
  ts: number;
  cpu_count: number;
  cpu_used_pct: number;
  mem_total: number;
  mem_used: number;
  mem_cache: number;
  disk_used: number;
  disk_total: number;
}

export function toE2bMetric(m: AgentMetrics): E2bMetric {
  return {
    timestamp: new Date(m.ts * 1000).toISOString(),
    timestampUnix: m.ts,
    cpuCount: m.cpu_count,
    cpuUsedPct: m.cpu_used_pct,
    memUsed: m.mem_used,
    memTotal: m.mem_total,
    memCache: m.mem_cache,
    diskUsed: m.disk_used,
    diskTotal: m.disk_total,
  };
}
