/**
 * Typed errors of the SDK. Every error the SDK throws is a BurrowError (from @burrow/core) with a
 * stable `code`; the subclasses let callers `catch` by kind. `translateError` is the one place
 * that turns wire errors (REST, Connect, envd HTTP) into these classes.
 */
import {
  BurrowError,
  type BurrowErrorOptions,
  connectErrorOf,
  connectErrorToBurrow,
  ErrorCode,
  errorFromBody,
} from "@burrow/core";

export class AuthenticationError extends BurrowError {
  override name = "AuthenticationError";
}
export class PermissionDeniedError extends BurrowError {
  override name = "PermissionDeniedError";
}
export class InvalidArgumentError extends BurrowError {
  override name = "InvalidArgumentError";
}
export class NotFoundError extends BurrowError {
  override name = "NotFoundError";
}
export class SandboxNotFoundError extends NotFoundError {
  override name = "SandboxNotFoundError";
}
export class TemplateNotFoundError extends NotFoundError {
  override name = "TemplateNotFoundError";
}
export class CheckpointNotFoundError extends NotFoundError {
  override name = "CheckpointNotFoundError";
}
/** A path inside the sandbox does not exist. */
export class FileNotFoundError extends NotFoundError {
  override name = "FileNotFoundError";
}
/** Conflicting state: already exists, sandbox not running, … */
export class ConflictError extends BurrowError {
  override name = "ConflictError";
}
export class TimeoutError extends BurrowError {
  override name = "TimeoutError";
}
/** The Burrow server, or the sandbox behind it, could not be reached. */
export class UnavailableError extends BurrowError {
  override name = "UnavailableError";
}

/** Outcome of a finished command. */
export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  /** Why the process ended abnormally (e.g. "signal: killed"), when envd says. */
  error?: string;
  /** Present when accumulated output hit the per-stream limit and was cut (the head is kept). */
  truncated?: { stdout: boolean; stderr: boolean };
}

/** A command exited with a non-zero code; carries the whole result. */
export class CommandExitError extends BurrowError implements CommandResult {
  override name = "CommandExitError";
  readonly result: CommandResult;

  constructor(result: CommandResult) {
    const why = result.error !== undefined && result.error !== "" ? ` (${result.error})` : "";
    super(ErrorCode.CommandFailed, `command exited with code ${result.exitCode}${why}`, {
      details: { exitCode: result.exitCode },
    });
    this.result = result;
  }

  get stdout(): string {
    return this.result.stdout;
  }
  get stderr(): string {
    return this.result.stderr;
  }
  get exitCode(): number {
    return this.result.exitCode;
  }
  get error(): string | undefined {
    return this.result.error;
  }
}

/** What the failed request was about; picks the not-found subclass for a bare `not_found`. */
export type ErrorSubject = "sandbox" | "file" | "process";

function typedError(code: ErrorCode, message: string, opts: BurrowErrorOptions, subject?: ErrorSubject) {
  switch (code) {
    case ErrorCode.Unauthorized:
      return new AuthenticationError(code, message, opts);
    case ErrorCode.Forbidden:
      return new PermissionDeniedError(code, message, opts);
    case ErrorCode.BadRequest:
    case ErrorCode.ValidationFailed:
    case ErrorCode.UnknownSecret:
    case ErrorCode.ResourcesExceeded:
    case ErrorCode.PayloadTooLarge:
      return new InvalidArgumentError(code, message, opts);
    case ErrorCode.SandboxNotFound:
      return new SandboxNotFoundError(code, message, opts);
    case ErrorCode.TemplateNotFound:
      return new TemplateNotFoundError(code, message, opts);
    case ErrorCode.CheckpointNotFound:
      return new CheckpointNotFoundError(code, message, opts);
    case ErrorCode.SecretNotFound:
    case ErrorCode.VolumeNotFound:
      return new NotFoundError(code, message, opts);
    case ErrorCode.NotFound:
      if (subject === "file") return new FileNotFoundError(code, message, opts);
      if (subject === "sandbox") return new SandboxNotFoundError(ErrorCode.SandboxNotFound, message, opts);
      return new NotFoundError(code, message, opts);
    case ErrorCode.Conflict:
    case ErrorCode.SandboxNotRunning:
      return new ConflictError(code, message, opts);
    case ErrorCode.Timeout:
      return new TimeoutError(code, message, opts);
    case ErrorCode.SandboxUnreachable:
    case ErrorCode.ServiceUnavailable:
      return new UnavailableError(code, message, opts);
    default:
      return new BurrowError(code, message, opts);
  }
}

/** The code a bare HTTP status stands for, for bodies without an error code. */
export function errorCodeOfStatus(status: number): ErrorCode {
  switch (status) {
    case 400:
    case 406:
      return ErrorCode.BadRequest;
    case 401:
      return ErrorCode.Unauthorized;
    case 403:
      return ErrorCode.Forbidden;
    case 404:
      return ErrorCode.NotFound;
    case 409:
      return ErrorCode.Conflict;
    case 413:
      return ErrorCode.PayloadTooLarge;
    case 502:
      return ErrorCode.SandboxUnreachable;
    case 503:
      return ErrorCode.ServiceUnavailable;
    case 408:
    case 504:
      return ErrorCode.Timeout;
    default:
      return status >= 500 ? ErrorCode.Internal : ErrorCode.BadRequest;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A failed reply as received: its HTTP status (when there was one) and body text. */
export interface WireFailure {
  status?: number;
  body?: string;
  /** An error already decoded from the wire (e.g. an end-of-stream error), or a thrown value. */
  error?: unknown;
}

/**
 * Turns a failed reply into a typed error. Understands Burrow's `{error:{code,message}}`,
 * Connect's `{code:"not_found",message}`, envd's `/files` `{code:404,message}`, and plain
 * statuses; a BurrowError passed as `error` is re-typed by its code.
 */
export function translateError(failure: WireFailure, subject?: ErrorSubject): BurrowError {
  let base: BurrowError | null = null;
  if (failure.error instanceof BurrowError) {
    base = failure.error;
  } else if (failure.body !== undefined) {
    const body = parseJson(failure.body);
    base = errorFromBody(body) ?? fromConnectBody(body) ?? fromFilesBody(body, failure.status);
  }
  if (base === null) {
    const status = failure.status ?? 500;
    const text = failure.body?.trim().slice(0, 500) ?? "";
    base = new BurrowError(errorCodeOfStatus(status), text !== "" ? text : `request failed with HTTP ${status}`);
  }
  const opts: BurrowErrorOptions = { cause: base.cause };
  if (base.details !== undefined) opts.details = base.details;
  if (base.constructor !== BurrowError) return base;
  return typedError(base.code, base.message, opts, subject);
}

function fromConnectBody(body: unknown): BurrowError | null {
  const err = connectErrorOf(body);
  return err === null ? null : connectErrorToBurrow(err);
}

function fromFilesBody(body: unknown, status: number | undefined): BurrowError | null {
  if (typeof body !== "object" || body === null) return null;
  const { code, message } = body as { code?: unknown; message?: unknown };
  if (typeof message !== "string") return null;
  const httpStatus = typeof code === "number" ? code : (status ?? 500);
  return new BurrowError(errorCodeOfStatus(httpStatus), message, { details: { status: httpStatus } });
}

/** The Connect code of an error that came from envd (`details.rpcCode`), if any. */
export function rpcCodeOf(err: unknown): string | undefined {
  if (!(err instanceof BurrowError)) return undefined;
  const code = err.details?.rpcCode;
  return typeof code === "string" ? code : undefined;
}
