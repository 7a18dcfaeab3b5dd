/**
 * Messages of envd's `process.Process` service in proto3 canonical JSON: camelCase names,
 * `bytes` as base64 strings, enums by name. Fields holding proto3 defaults (0, "", false) may be
 * absent on the wire, so readers must supply the defaults.
 */

/** RPC paths, relative to the agent's root (or to `envdBasePath(id)` through the server). */
export const ProcessMethod = {
  List: "/process.Process/List",
  Start: "/process.Process/Start",
  Connect: "/process.Process/Connect",
  Update: "/process.Process/Update",
  SendInput: "/process.Process/SendInput",
  SendSignal: "/process.Process/SendSignal",
  CloseStdin: "/process.Process/CloseStdin",
} as const;
export type ProcessMethod = (typeof ProcessMethod)[keyof typeof ProcessMethod];

export const ProcessSignal = {
  SIGTERM: "SIGNAL_SIGTERM",
  SIGKILL: "SIGNAL_SIGKILL",
} as const;
export type ProcessSignal = (typeof ProcessSignal)[keyof typeof ProcessSignal];

export interface PtySize {
  cols: number;
  rows: number;
}

export interface ProcessPty {
  size: PtySize;
}

export interface ProcessConfig {
  cmd: string;
  args?: string[];
  envs?: Record<string, string>;
  cwd?: string;
}

/** Selects a process by pid or by the tag given at start (a proto oneof). */
export type ProcessSelector = { pid: number } | { tag: string };

export interface ProcessStartRequest {
  process: ProcessConfig;
  pty?: ProcessPty;
  tag?: string;
  /** Keep the process's stdin open for SendInput; envd treats an absent field as true. */
  stdin?: boolean;
}

export interface ProcessConnectRequest {
  process: ProcessSelector;
}

/** Exactly one member is set (a proto oneof); `bytes` members are base64. */
export type ProcessOutput = { stdout: string } | { stderr: string } | { pty: string };
export type ProcessInput = { stdin: string } | { pty: string };

export interface ProcessStartEvent {
  pid?: number;
}

export interface ProcessEndEvent {
  exitCode?: number;
  exited?: boolean;
  status?: string;
  error?: string;
}

/** One event of a Start or Connect stream; exactly one member is set. */
export interface ProcessEvent {
  start?: ProcessStartEvent;
  data?: Partial<{ stdout: string; stderr: string; pty: string }>;
  end?: ProcessEndEvent;
  keepalive?: Record<string, never>;
}

/** Each message of the Start and Connect streams (`StartResponse`, `ConnectResponse`). */
export interface ProcessStreamMessage {
  event?: ProcessEvent;
}

export interface ProcessListEntry {
  config?: ProcessConfig;
  pid?: number;
  tag?: string;
}

export interface ProcessListResponse {
  processes?: ProcessListEntry[];
}

export interface ProcessSendInputRequest {
  process: ProcessSelector;
  input: ProcessInput;
}

export interface ProcessSendSignalRequest {
  process: ProcessSelector;
  signal: ProcessSignal;
}

export interface ProcessCloseStdinRequest {
  process: ProcessSelector;
}

export interface ProcessUpdateRequest {
  process: ProcessSelector;
  pty?: ProcessPty;
}
