/** Connect protocol (JSON codec) constants shared by the agent proxy and the clients. */
import { ErrorCode } from "../errors.js";
import { toBase64 } from "./base64.js";

export const CONNECT_PROTOCOL_VERSION_HEADER = "Connect-Protocol-Version";
export const CONNECT_PROTOCOL_VERSION = "1";
/** Content type of unary Connect requests and replies with the JSON codec. */
export const CONNECT_UNARY_CONTENT_TYPE = "application/json";
/** Content type of streaming Connect requests and replies with the JSON codec. */
export const CONNECT_STREAM_CONTENT_TYPE = "application/connect+json";
/** Asks envd to send a keepalive event on idle streams every N seconds. */
export const KEEPALIVE_PING_HEADER = "Keepalive-Ping-Interval";
/**
 * The Burrow proxy reserves `Authorization` for the API key, so clients name the sandbox user in
 * this header; the proxy turns it into envd's `Authorization: Basic base64("<user>:")`.
 */
export const BURROW_USER_HEADER = "X-Burrow-User";
/** Header carrying the agent's access token (set by the server's proxy, never by clients). */
export const ACCESS_TOKEN_HEADER = "X-Access-Token";

/** The value envd expects in `Authorization` to run a request as `user`. */
export function basicAuthForUser(user: string): string {
  return `Basic ${toBase64(`${user}:`)}`;
}

/** Connect error codes (https://connectrpc.com/docs/protocol#error-codes). */
export const ConnectCode = {
  Canceled: "canceled",
  Unknown: "unknown",
  InvalidArgument: "invalid_argument",
  DeadlineExceeded: "deadline_exceeded",
  NotFound: "not_found",
  AlreadyExists: "already_exists",
  PermissionDenied: "permission_denied",
  ResourceExhausted: "resource_exhausted",
  FailedPrecondition: "failed_precondition",
  Aborted: "aborted",
  OutOfRange: "out_of_range",
  Unimplemented: "unimplemented",
  Internal: "internal",
  Unavailable: "unavailable",
  DataLoss: "data_loss",
  Unauthenticated: "unauthenticated",
} as const;
export type ConnectCode = (typeof ConnectCode)[keyof typeof ConnectCode];

/** Body of a unary Connect error, and the `error` member of an end-of-stream message. */
export interface ConnectErrorBody {
  code: string;
  message?: string;
  details?: unknown[];
}

const CONNECT_TO_ERROR_CODE: Record<ConnectCode, ErrorCode> = {
  canceled: ErrorCode.Timeout,
  unknown: ErrorCode.Internal,
  invalid_argument: ErrorCode.BadRequest,
  deadline_exceeded: ErrorCode.Timeout,
  not_found: ErrorCode.NotFound,
  already_exists: ErrorCode.Conflict,
  permission_denied: ErrorCode.Forbidden,
  resource_exhausted: ErrorCode.ServiceUnavailable,
  failed_precondition: ErrorCode.BadRequest,
  aborted: ErrorCode.Conflict,
  out_of_range: ErrorCode.BadRequest,
  unimplemented: ErrorCode.BadRequest,
  internal: ErrorCode.Internal,
  unavailable: ErrorCode.SandboxUnreachable,
  data_loss: ErrorCode.Internal,
  unauthenticated: ErrorCode.Unauthorized,
};

export function isConnectCode(value: unknown): value is ConnectCode {
  return typeof value === "string" && Object.hasOwn(CONNECT_TO_ERROR_CODE, value);
}

/** Burrow's error code for a Connect error code; `internal` for codes it does not know. */
export function errorCodeOfConnect(code: string): ErrorCode {
  return isConnectCode(code) ? CONNECT_TO_ERROR_CODE[code] : ErrorCode.Internal;
}

/** Reads a Connect error out of a parsed JSON body; null when it has another shape. */
export function connectErrorOf(body: unknown): ConnectErrorBody | null {
  if (typeof body !== "object" || body === null) return null;
  const { code, message, details } = body as Record<string, unknown>;
  if (typeof code !== "string") return null;
  const out: ConnectErrorBody = { code };
  if (typeof message === "string") out.message = message;
  if (Array.isArray(details)) out.details = details;
  return out;
}
