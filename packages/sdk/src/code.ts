/**
 * The code interpreter of a `code-interpreter` sandbox: stateful Python and JavaScript contexts
 * served by the sandbox's service on port 49999 (E2B's code-interpreter protocol), reached
 * through the server's sandbox plane (`E2b-Sandbox-Id`/`E2b-Sandbox-Port` headers).
 */
import { BurrowError, ErrorCode } from "@burrow/core";
import { InvalidArgumentError, translateError } from "./errors.js";
import type { ApiClient, RequestOptions } from "./http.js";

export const CODE_INTERPRETER_PORT = 49999;
/** How long an execution may run before it is interrupted, unless `timeoutMs` says otherwise. */
export const DEFAULT_CODE_TIMEOUT_MS = 60_000;

export type CodeLanguage = "python" | "js";

/** A context: its own kernel, variables and working directory. */
export interface CodeContext {
  id: string;
  language: string;
  cwd: string;
}

/** One rich output (a cell's value or a `display()`): each format present is a string (binary formats base64). */
export interface CodeResult {
  text?: string;
  html?: string;
  markdown?: string;
  svg?: string;
  png?: string;
  jpeg?: string;
  pdf?: string;
  latex?: string;
  json?: unknown;
  javascript?: string;
  /** The cell's value (`execute_result`), as opposed to something displayed along the way. */
  isMainResult: boolean;
  /** MIME types without a field above, by type. */
  extra: Record<string, unknown>;
}

/** An exception the code raised (never a transport error). */
export interface ExecutionError {
  name: string;
  value: string;
  traceback: string;
}

export interface Execution {
  results: CodeResult[];
  logs: { stdout: string[]; stderr: string[] };
  error?: ExecutionError;
  executionCount?: number;
  /** The text of the main result, if there is one. */
  text?: string;
}

export interface RunCodeOptions extends RequestOptions {
  /** The language's default context (default python). Not with `context`. */
  language?: CodeLanguage;
  /** A context made with `createCodeContext` (or its id). Not with `language`. */
  context?: CodeContext | string;
  /** Environment variables for this execution only. */
  envs?: Record<string, string>;
  onStdout?: (text: string) => void | Promise<void>;
  onStderr?: (text: string) => void | Promise<void>;
  onResult?: (result: CodeResult) => void | Promise<void>;
  onError?: (error: ExecutionError) => void | Promise<void>;
  /** Interrupts the code after this many ms (the context stays usable); 0 for none. Default 60 000. */
  timeoutMs?: number;
}

export interface CreateCodeContextOptions extends RequestOptions {
  language?: CodeLanguage;
  cwd?: string;
  envs?: Record<string, string>;
}

type TextField = "text" | "html" | "markdown" | "svg" | "png" | "jpeg" | "pdf" | "latex" | "javascript";
const TEXT_FIELDS: readonly TextField[] = [
  "text",
  "html",
  "markdown",
  "svg",
  "png",
  "jpeg",
  "pdf",
  "latex",
  "javascript",
];
const KNOWN_KEYS = new Set<string>([...TEXT_FIELDS, "json", "type", "is_main_result"]);

export class CodeInterpreter {
  constructor(
    private readonly api: ApiClient,
    private readonly sandboxId: string,
  ) {}

  private headers(): Record<string, string> {
    // X-API-Key (not Authorization) so the server drops it before the request reaches the sandbox.
    const headers: Record<string, string> = {
      "E2b-Sandbox-Id": this.sandboxId,
      "E2b-Sandbox-Port": String(CODE_INTERPRETER_PORT),
      "Content-Type": "application/json",
    };
    if (this.api.config.apiKey !== undefined) headers["X-API-Key"] = this.api.config.apiKey;
    return headers;
  }

  private async request(
    method: string,
    path: string,
    body: unknown,
    signal: AbortSignal,
    what: string,
  ): Promise<Response> {
    let res: Response;
    try {
      res = await this.api.config.fetch(`${this.api.config.apiUrl}${path}`, {
        method,
        headers: this.headers(),
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal,
      });
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      throw this.api.unreachable(err);
    }
    if (res.ok) return res;
    const text = await res.text();
    throw codeError(res.status, text, what, this.sandboxId);
  }

  async runCode(code: string, opts: RunCodeOptions = {}): Promise<Execution> {
    if (opts.context !== undefined && opts.language !== undefined) {
      throw new InvalidArgumentError(ErrorCode.ValidationFailed, "runCode: give context or language, not both");
    }
    const what = `running code in sandbox ${this.sandboxId}`;
    const scope = this.api.scope(opts, what);
    try {
      const contextId = typeof opts.context === "string" ? opts.context : opts.context?.id;
      const res = await this.request(
        "POST",
        "/execute",
        { code, context_id: contextId, language: opts.language, env_vars: opts.envs },
        scope.signal,
        what,
      );
      // The request deadline covered the start; the execution has its own.
      scope.setDeadline(opts.timeoutMs ?? DEFAULT_CODE_TIMEOUT_MS, `${what}: the execution`, "pass a larger timeoutMs");
      const execution: Execution = { results: [], logs: { stdout: [], stderr: [] } };
      let ended = false;
      for await (const line of lines(res)) {
        const event = JSON.parse(line) as Record<string, unknown>;
        ended = (await apply(execution, event, opts)) || ended;
      }
      if (!ended) {
        throw new BurrowError(ErrorCode.Internal, `${what}: the stream ended before end_of_execution`);
      }
      return execution;
    } catch (err) {
      throw scope.reasonFor(err);
    } finally {
      scope.dispose();
    }
  }

  async createContext(opts: CreateCodeContextOptions = {}): Promise<CodeContext> {
    const what = `creating a code context in sandbox ${this.sandboxId}`;
    return this.call<CodeContext>(
      "POST",
      "/contexts",
      { language: opts.language, cwd: opts.cwd, env_vars: opts.envs },
      opts,
      what,
    );
  }

  async listContexts(opts?: RequestOptions): Promise<CodeContext[]> {
    return this.call<CodeContext[]>("GET", "/contexts", undefined, opts, `listing code contexts of ${this.sandboxId}`);
  }

  async restartContext(context: CodeContext | string, opts?: RequestOptions): Promise<void> {
    const id = typeof context === "string" ? context : context.id;
    await this.call("POST", `/contexts/${encodeURIComponent(id)}/restart`, undefined, opts, `restarting context ${id}`);
  }

  async removeContext(context: CodeContext | string, opts?: RequestOptions): Promise<void> {
    const id = typeof context === "string" ? context : context.id;
    await this.call("DELETE", `/contexts/${encodeURIComponent(id)}`, undefined, opts, `removing context ${id}`);
  }

  private async call<T>(
    method: string,
    path: string,
    body: unknown,
    opts: RequestOptions | undefined,
    what: string,
  ): Promise<T> {
    const scope = this.api.scope(opts, what);
    try {
      const res = await this.request(method, path, body, scope.signal, what);
      const text = await res.text();
      return (text === "" ? undefined : JSON.parse(text)) as T;
    } catch (err) {
      throw scope.reasonFor(err);
    } finally {
      scope.dispose();
    }
  }
}

/** The service's `{"error": {code, message}}` (or the server's plane error) as a typed SDK error. */
function codeError(status: number, body: string, what: string, sandboxId: string): BurrowError {
  const error = translateError({ status, body });
  error.message = `${what}: ${error.message}`;
  if (status === 502) {
    error.message += ` (is sandbox ${sandboxId} a code-interpreter sandbox? Its service listens on port ${CODE_INTERPRETER_PORT})`;
  }
  return error;
}

async function apply(execution: Execution, event: Record<string, unknown>, opts: RunCodeOptions): Promise<boolean> {
  switch (event.type) {
    case "stdout":
    case "stderr": {
      const text = typeof event.text === "string" ? event.text : "";
      execution.logs[event.type].push(text);
      await (event.type === "stdout" ? opts.onStdout : opts.onStderr)?.(text);
      return false;
    }
    case "result": {
      const result = toResult(event);
      execution.results.push(result);
      if (result.isMainResult && result.text !== undefined) execution.text = result.text;
      await opts.onResult?.(result);
      return false;
    }
    case "error": {
      const error: ExecutionError = {
        name: String(event.name ?? "Error"),
        value: String(event.value ?? ""),
        traceback: String(event.traceback ?? ""),
      };
      execution.error = error;
      await opts.onError?.(error);
      return false;
    }
    case "number_of_executions":
      if (typeof event.execution_count === "number") execution.executionCount = event.execution_count;
      return false;
    case "end_of_execution":
      return true;
    default:
      return false;
  }
}

function toResult(event: Record<string, unknown>): CodeResult {
  const result: CodeResult = { isMainResult: event.is_main_result === true, extra: {} };
  for (const field of TEXT_FIELDS) {
    const value = event[field];
    if (typeof value === "string") result[field] = value;
  }
  if (event.json !== undefined) result.json = event.json;
  for (const [key, value] of Object.entries(event)) {
    if (!KNOWN_KEYS.has(key)) result.extra[key] = value;
  }
  return result;
}

async function* lines(res: Response): AsyncGenerator<string> {
  if (res.body === null) return;
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let nl = buffer.indexOf("\n");
    while (nl >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.trim() !== "") yield line;
      nl = buffer.indexOf("\n");
    }
  }
  buffer += decoder.decode();
  if (buffer.trim() !== "") yield buffer;
}
