import type { EgressPolicyInput } from "./network.js";
import type { SecretBinding } from "./secrets.js";
import type { VolumeMount } from "./volume.js";
/** Wire types of the REST API (`/v1`). Plain data, shared by server and clients. */

export const SandboxState = {
  Starting: "starting",
  Running: "running",
  /** Processes frozen, memory resident, no CPU. Wakes in about a millisecond. */
  Standby: "standby",
  /** Memory and processes being written to disk. */
  Hibernating: "hibernating",
  /** Memory and processes on disk, nothing resident. Wakes with a restore. */
  Hibernated: "hibernated",
  /** Being restored from hibernation. */
  Waking: "waking",
  Error: "error",
  Deleting: "deleting",
  Deleted: "deleted",
} as const;
export type SandboxState = (typeof SandboxState)[keyof typeof SandboxState];

export interface SandboxResources {
  /** Virtual CPUs (fractional allowed, e.g. 0.5). */
  vcpus: number;
  memoryMb: number;
  /** Maximum number of processes/threads inside the sandbox. */
  pids: number;
  /**
   * Size of the sandbox's own disk (its files on top of the template), in MiB; writes past it get
   * ENOSPC inside. 0: no disk of its own (sandboxes created before disk limits write to the host).
   */
  diskMb: number;
}

/** When a sandbox sleeps, in milliseconds; 0 means never. */
export interface LifecyclePolicy {
  /** Idle time before standby (processes frozen, memory kept). Default 15 000. */
  standbyAfterMs: number;
  /** Time in standby before hibernation (memory written to disk). Default 600 000. */
  hibernateAfterMs: number;
  /** Idle time after which the sandbox is deleted. Default 0: never. */
  deleteAfterMs: number;
  /**
   * A command the sandbox runs (`bash -l -c`) before each hibernation (flush, save state); its
   * exit code and output tail are in the `before_hibernate` event. Hibernation goes on whatever
   * it answers. `null` in a PATCH removes it.
   */
  beforeHibernate?: BeforeHibernateHook | null;
}

export interface BeforeHibernateHook {
  command: string;
  /** Default 30 000, at most 300 000; a hook still running then is hibernated with the rest. */
  timeoutMs?: number;
  /** Default "user". */
  user?: string;
}

export const DEFAULT_LIFECYCLE: LifecyclePolicy = {
  standbyAfterMs: 15_000,
  hibernateAfterMs: 600_000,
  deleteAfterMs: 0,
};

export interface UpdateSandboxRequest {
  lifecycle?: Partial<LifecyclePolicy>;
  /**
   * New limits, applied at once and kept across sleep, restore and fork: `vcpus` up or down,
   * `diskMb` up only. memoryMb and pids are fixed when the sandbox starts (400 if changed).
   */
  resources?: Partial<SandboxResources>;
  /** Replaces the sandbox's metadata. */
  metadata?: Record<string, string>;
}

export interface KeepAliveRequest {
  /** How long the sandbox stays awake without other activity; default its standbyAfterMs. */
  durationMs?: number;
}

export interface SandboxEvent {
  id: number;
  sandboxId: string;
  at: string;
  /** What happened: created, standby, hibernated, woken, error, restarted, deleted, … */
  type: string;
  from?: SandboxState;
  to?: SandboxState;
  reason: string;
  /** Milliseconds the transition took, when it was an operation. */
  durationMs?: number;
}

export interface CreateSandboxRequest {
  /** Template name; defaults to "base". */
  template?: string;
  /** Environment variables applied to every command in the sandbox. */
  env?: Record<string, string>;
  /** Free-form string labels, filterable in list. */
  metadata?: Record<string, string>;
  resources?: Partial<SandboxResources>;
  lifecycle?: Partial<LifecyclePolicy>;
  /**
   * Egress policy (default: allow everything) and brokered secrets; see docs/networking.md.
   * Each bound secret also sets the env var of its name to its placeholder.
   */
  network?: { egress?: EgressPolicyInput; secrets?: SecretBinding[] };
  /** Volumes mounted into the sandbox (docs/volumes.md); a fork mounts the same ones. */
  volumes?: VolumeMount[];
}

export interface SandboxInfo {
  id: string;
  /** The template as asked for at create (`name` or `name:tag`). */
  template: string;
  /** The template version the sandbox was created from; absent for sandboxes of releases before versions. */
  templateVersion?: string;
  state: SandboxState;
  metadata: Record<string, string>;
  resources: SandboxResources;
  lifecycle: LifecyclePolicy;
  /** ISO-8601 timestamps. */
  createdAt: string;
  updatedAt: string;
  /** Last activity the server saw (API call, open stream, proxied request, keepalive). */
  lastActivityAt: string;
  /** Set when state is "error": why the sandbox failed. */
  error?: string;
}

export interface ListSandboxesResponse {
  sandboxes: SandboxInfo[];
}

export interface HealthResponse {
  status: "ok";
  version: string;
  /** Warm pool fill per template. */
  warmPool?: Record<string, { ready: number; target: number }>;
}

export const DEFAULT_TEMPLATE = "base";
export const DEFAULT_RESOURCES: SandboxResources = { vcpus: 2, memoryMb: 2048, pids: 4096, diskMb: 10_240 };
export const DEFAULT_API_URL = "http://127.0.0.1:7070";
export const DEFAULT_PORT = 7070;
/** Port the in-sandbox agent listens on (same as E2B's envd). */
export const AGENT_PORT = 49983;

/**
 * Path prefix under which the server forwards envd-protocol requests to a sandbox's agent:
 * `/v1/sandboxes/{id}/envd/<rest>` reaches `<rest>` on the agent.
 */
export function envdBasePath(sandboxId: string): string {
  return `/v1/sandboxes/${encodeURIComponent(sandboxId)}/envd`;
}

/** `GET /v1/sandboxes/{id}/metrics`: what a sandbox uses now, read on the host (never wakes it). */
export interface SandboxMetrics {
  sandboxId: string;
  state: SandboxState;
  /** ISO-8601 time of the reading. */
  at: string;
  resources: SandboxResources;
  /** CPU time used since its processes last started, in seconds; absent while it is not running. */
  cpuSeconds?: number;
  /** Host memory its cgroup holds (its processes and gVisor's own); absent while nothing is resident. */
  memoryBytes?: number;
  /** Bytes used and total on its disk; absent for a sandbox without a disk of its own. */
  diskUsedBytes?: number;
  diskTotalBytes?: number;
}
