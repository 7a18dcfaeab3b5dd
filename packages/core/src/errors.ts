/** Stable error codes shared by the server, the SDK, the CLI and the MCP server. */
export const ErrorCode = {
  BadRequest: "bad_request",
  ValidationFailed: "validation_failed",
  Unauthorized: "unauthorized",
  Forbidden: "forbidden",
  NotFound: "not_found",
  SandboxNotFound: "sandbox_not_found",
  TemplateNotFound: "template_not_found",
  TemplateBuildNotFound: "template_build_not_found",
  /** A template build failed (a RUN exited non-zero, a COPY source is missing, …). */
  TemplateBuildFailed: "template_build_failed",
  /** A template's start command did not become ready in time, or exited. */
  TemplateStartFailed: "template_start_failed",
  CheckpointNotFound: "checkpoint_not_found",
  PreviewNotFound: "preview_not_found",
  SecretNotFound: "secret_not_found",
  VolumeNotFound: "volume_not_found",
  WebhookNotFound: "webhook_not_found",
  /** A write to a volume went past its size limit. */
  VolumeFull: "volume_full",
  /** A sandbox was to be bound to a secret that does not exist. */
  UnknownSecret: "unknown_secret",
  SandboxNotRunning: "sandbox_not_running",
  Conflict: "conflict",
  PayloadTooLarge: "payload_too_large",
  /** A sandbox asked for more vCPUs or memory than the host has. */
  ResourcesExceeded: "resources_exceeded",
  RuntimeFailed: "runtime_failed",
  SandboxUnreachable: "sandbox_unreachable",
  ServiceUnavailable: "service_unavailable",
  Timeout: "timeout",
  Internal: "internal",
  /** A command in a sandbox exited non-zero; raised by the SDK, never sent by the server. */
  CommandFailed: "command_failed",
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** HTTP status for each code: the one table the server uses to answer errors. */
export const httpStatusOf: Record<ErrorCode, number> = {
  bad_request: 400,
  validation_failed: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  sandbox_not_found: 404,
  template_not_found: 404,
  template_build_not_found: 404,
  template_build_failed: 422,
  template_start_failed: 422,
  checkpoint_not_found: 404,
  preview_not_found: 404,
  secret_not_found: 404,
  volume_not_found: 404,
  webhook_not_found: 404,
  volume_full: 507,
  unknown_secret: 400,
  sandbox_not_running: 409,
  conflict: 409,
  payload_too_large: 413,
  resources_exceeded: 400,
  runtime_failed: 500,
  sandbox_unreachable: 502,
  service_unavailable: 503,
  timeout: 504,
  internal: 500,
  command_failed: 422,
};

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: Record<string, unknown> };
}

export interface BurrowErrorOptions {
  details?: Record<string, unknown>;
  cause?: unknown;
}

/** The one error class: code throws it, each boundary translates it once. */
export class BurrowError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: BurrowErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "BurrowError";
    this.code = code;
    this.details = options.details;
  }

  get status(): number {
    return httpStatusOf[this.code];
  }

  toBody(): ErrorBody {
    const error: ErrorBody["error"] = { code: this.code, message: this.message };
    if (this.details !== undefined) error.details = this.details;
    return { error };
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.values(ErrorCode).includes(value as ErrorCode);
}

/** Parses an `{ error: {...} }` body into a BurrowError; null when the body has another shape. */
export function errorFromBody(body: unknown): BurrowError | null {
  if (typeof body !== "object" || body === null || !("error" in body)) return null;
  const err = (body as { error: unknown }).error;
  if (typeof err !== "object" || err === null) return null;
  const { code, message, details } = err as { code?: unknown; message?: unknown; details?: unknown };
  if (!isErrorCode(code) || typeof message !== "string") return null;
  const opts: BurrowErrorOptions = {};
  if (typeof details === "object" && details !== null) opts.details = details as Record<string, unknown>;
  return new BurrowError(code, message, opts);
}

/** The message of any thrown value, for logs and error reasons. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
