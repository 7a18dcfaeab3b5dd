/** Wire types of the REST API (`/v1`). Plain data, shared by server and clients. */

export const SandboxState = {
  Starting: "starting",
  Running: "running",
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
}

export interface CreateSandboxRequest {
  /** Template name; defaults to "base". */
  template?: string;
  /** Environment variables applied to every command in the sandbox. */
  env?: Record<string, string>;
  /** Free-form string labels, filterable in list. */
  metadata?: Record<string, string>;
  resources?: Partial<SandboxResources>;
}

export interface SandboxInfo {
  id: string;
  template: string;
  state: SandboxState;
  metadata: Record<string, string>;
  resources: SandboxResources;
  /** ISO-8601 timestamps. */
  createdAt: string;
  updatedAt: string;
  /** Set when state is "error": why the sandbox failed. */
  error?: string;
}

export interface ListSandboxesResponse {
  sandboxes: SandboxInfo[];
}

export interface HealthResponse {
  status: "ok";
  version: string;
}

export const DEFAULT_TEMPLATE = "base";
export const DEFAULT_RESOURCES: SandboxResources = { vcpus: 2, memoryMb: 2048, pids: 4096 };
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
