export type {
  CheckpointInfo,
  CheckpointMode,
  CreateSandboxRequest,
  DiffEntry,
  DiffResponse,
  EgressPolicy,
  EgressPolicyInput,
  ForkResponse,
  HealthResponse,
  LifecyclePolicy,
  ListCheckpointsResponse,
  ListPreviewsResponse,
  PreviewInfo,
  SandboxEvent,
  SandboxInfo,
  SandboxNetworkSettings,
  SandboxResources,
  SandboxState,
  SecretBinding,
  SecretInfo,
  TemplateBuildInfo,
  TemplateBuildLogEntry,
  TemplateConfig,
  TemplateInfo,
  TemplateVersionInfo,
  UpdateSandboxRequest,
  VolumeEntry,
  VolumeInfo,
  VolumeMount,
} from "@burrow/core";
export { BurrowError, ErrorCode } from "@burrow/core";
export { type CheckpointCreateOptions, type CheckpointDiffOptions, Checkpoints } from "./checkpoints.js";
export {
  CODE_INTERPRETER_PORT,
  type CodeContext,
  type CodeLanguage,
  type CodeResult,
  type CreateCodeContextOptions,
  DEFAULT_CODE_TIMEOUT_MS,
  type Execution,
  type ExecutionError,
  type RunCodeOptions,
} from "./code.js";
export { type CommandChunk, CommandHandle, type OutputCallback } from "./command-handle.js";
export {
  type CommandConnectOptions,
  type CommandStartOptions,
  Commands,
  DEFAULT_COMMAND_TIMEOUT_MS,
  type ProcessInfo,
} from "./commands.js";
export {
  type ConfigSources,
  type ConnectionOptions,
  DEFAULT_REQUEST_TIMEOUT_MS,
  defaultConfigSources,
  defaultPreviewDomain,
  type Env,
  type ResolvedConfig,
  resolveConfig,
} from "./config.js";
export type { EntryInfo, FileType, WriteInfo } from "./entry.js";
export type { UserRequestOptions } from "./envd.js";
export {
  AuthenticationError,
  CheckpointNotFoundError,
  CommandExitError,
  type CommandResult,
  ConflictError,
  type ErrorSubject,
  FileNotFoundError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  SandboxNotFoundError,
  TemplateNotFoundError,
  TimeoutError,
  translateError,
  UnavailableError,
  type WireFailure,
} from "./errors.js";
export { parseMessage, type SandboxEventMessage, type WatchEventsOptions, watchEvents } from "./events.js";
export {
  Filesystem,
  type ListOptions,
  type ReadFormat,
  type ReadOptions,
  type WatchOptions,
  type WriteData,
  type WriteEntry,
} from "./filesystem.js";
export type { RequestOptions } from "./http.js";
export { DEFAULT_MAX_OUTPUT_BYTES } from "./output.js";
export { type PreviewCreateOptions, Previews } from "./previews.js";
export { Pty, type PtyCreateOptions } from "./pty.js";
export {
  Sandbox,
  type SandboxApiOptions,
  type SandboxCreateOptions,
  type SandboxListOptions,
} from "./sandbox.js";
export { type SecretApiOptions, Secrets } from "./secrets.js";
export { type TemplateApiOptions, type TemplateBuildOptions, Templates } from "./templates.js";
export { type VolumeApiOptions, type VolumeCreateOptions, Volumes } from "./volumes.js";
export { type FilesystemEvent, type FilesystemEventType, WatchHandle } from "./watch-handle.js";
export { verifyWebhookSignature, type WebhookApiOptions, Webhooks } from "./webhooks.js";
