/**
 * The one error formatter of the MCP server: every failure becomes a tool result with
 * `isError: true` and the text `<message> (<code>)` plus a hint on what to do next, so the
 * model can correct itself and the server keeps serving.
 */
import { BurrowError, ErrorCode } from "@burrow/sdk";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";

/** What to do about each kind of failure, phrased for the model calling the tools. */
const HINTS: Partial<Record<string, string>> = {
  [ErrorCode.SandboxNotFound]: "check the id with sandbox_list, or create a sandbox with sandbox_create",
  [ErrorCode.TemplateNotFound]: "omit template to use 'base'",
  [ErrorCode.SandboxNotRunning]: "check its state with sandbox_info; a sandbox in state 'error' must be recreated",
  [ErrorCode.NotFound]: "check the path with list_files; relative paths are resolved against /home/user",
  [ErrorCode.Unauthorized]:
    "the Burrow API key was rejected: set BURROW_API_KEY for stdio, or send 'Authorization: Bearer <key>' over HTTP",
  [ErrorCode.Forbidden]:
    "permission denied; commands and files act as 'user', who can write under /home/user and /tmp (run_command accepts user: 'root')",
  [ErrorCode.BadRequest]: "fix the arguments as the message says",
  [ErrorCode.ValidationFailed]: "fix the arguments as the message says",
  [ErrorCode.PayloadTooLarge]: "send less data per call",
  [ErrorCode.Timeout]: "pass a larger timeoutMs, or use start_background_command for long-running work",
  [ErrorCode.SandboxUnreachable]: "the sandbox did not answer; check it with sandbox_info and retry",
  [ErrorCode.ServiceUnavailable]: "the Burrow server could not be reached; check that it runs and BURROW_API_URL",
  [ErrorCode.RuntimeFailed]: "the sandbox runtime failed; retry, or create a new sandbox",
  [ErrorCode.Internal]: "retry; if it keeps failing, check the Burrow server's log",
};

export interface DescribedError {
  code: string;
  message: string;
  hint: string | undefined;
}

/** Code, message and hint of any thrown value; a `details.hint` on the error wins over the table. */
export function describeError(err: unknown): DescribedError {
  if (err instanceof BurrowError) {
    const own = err.details?.hint;
    return { code: err.code, message: err.message, hint: typeof own === "string" ? own : HINTS[err.code] };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: ErrorCode.Internal, message, hint: HINTS[ErrorCode.Internal] };
}

/** `<message> (<code>)`, then the hint on its own line. */
export function formatError(err: unknown): string {
  const { code, message, hint } = describeError(err);
  return hint === undefined ? `${message} (${code})` : `${message} (${code})\nHint: ${hint}`;
}

/** A failed tool call as MCP returns it; `extra` text (e.g. partial output) follows the error. */
export function toolError(err: unknown, extra?: string): CallToolResult {
  const text = formatError(err);
  return { isError: true, content: [{ type: "text", text: extra === undefined ? text : `${text}\n\n${extra}` }] };
}
