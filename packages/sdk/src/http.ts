/** HTTP transport to the Burrow server: URLs, auth, deadlines and error translation. */
import { BurrowError, ErrorCode } from "@burrow/core";
import type { ResolvedConfig } from "./config.js";
import { type ErrorSubject, translateError, UnavailableError } from "./errors.js";
import { OperationScope } from "./signals.js";

/** Options every networked call accepts. */
export interface RequestOptions {
  signal?: AbortSignal;
  /** Overrides the connection's requestTimeoutMs for this call; 0 disables. */
  requestTimeoutMs?: number;
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface SendInit {
  method: string;
  /** Path on the server, starting with "/". */
  path: string;
  query?: Query;
  headers?: Record<string, string>;
  body?: BodyInit | null;
  /** Needed by Node's fetch to send a ReadableStream body. */
  streamBody?: boolean;
  subject?: ErrorSubject;
}

export class ApiClient {
  constructor(readonly config: ResolvedConfig) {}

  url(path: string, query?: Query): string {
    const url = new URL(`${this.config.apiUrl}${path}`);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    return url.toString();
  }

  /** A scope armed with the request deadline; the caller disposes it. */
  scope(opts: RequestOptions | undefined, what: string): OperationScope {
    const scope = new OperationScope(opts?.signal);
    scope.setDeadline(opts?.requestTimeoutMs ?? this.config.requestTimeoutMs, what);
    return scope;
  }

  /**
   * Sends a request under `scope` and returns the response when it is 2xx; otherwise reads the
   * body and throws the translated error. Aborts surface as the scope's reason.
   */
  async send(init: SendInit, scope: OperationScope): Promise<Response> {
    const headers: Record<string, string> = { ...init.headers };
    if (this.config.apiKey !== undefined) headers.Authorization = `Bearer ${this.config.apiKey}`;
    const request: RequestInit & { duplex?: "half" } = {
      method: init.method,
      headers,
      body: init.body ?? null,
      signal: scope.signal,
    };
    if (init.streamBody === true) request.duplex = "half";
    let response: Response;
    try {
      response = await this.config.fetch(this.url(init.path, init.query), request);
    } catch (err) {
      if (scope.aborted) throw scope.reasonFor(err);
      throw this.unreachable(err);
    }
    if (response.ok) return response;
    let body: string;
    try {
      body = await response.text();
    } catch (err) {
      throw scope.reasonFor(err);
    }
    const error = translateError({ status: response.status, body }, init.subject);
    if (error.code === ErrorCode.Unauthorized && this.config.apiKeySource === "none") {
      const where = this.config.adminKeyPath === undefined ? "" : `, or create ${this.config.adminKeyPath}`;
      error.message += `; no API key is configured: pass apiKey or set BURROW_API_KEY${where}`;
    }
    throw error;
  }

  /** A JSON request/response call bounded by the request deadline. */
  async json<T>(init: SendInit & { json?: unknown }, opts: RequestOptions | undefined, what: string): Promise<T> {
    const scope = this.scope(opts, what);
    try {
      const res = await this.send(withJsonBody(init), scope);
      const text = await res.text();
      if (text === "") return undefined as T;
      try {
        return JSON.parse(text) as T;
      } catch (err) {
        throw new BurrowError(ErrorCode.Internal, `${what}: the server replied with invalid JSON`, { cause: err });
      }
    } catch (err) {
      throw scope.reasonFor(err);
    } finally {
      scope.dispose();
    }
  }

  /** A call whose reply body is ignored (e.g. 204). */
  async empty(init: SendInit & { json?: unknown }, opts: RequestOptions | undefined, what: string): Promise<void> {
    const scope = this.scope(opts, what);
    try {
      const res = await this.send(withJsonBody(init), scope);
      await res.body?.cancel();
    } catch (err) {
      throw scope.reasonFor(err);
    } finally {
      scope.dispose();
    }
  }

  unreachable(err: unknown): UnavailableError {
    const cause = err instanceof Error ? describeCause(err) : String(err);
    return new UnavailableError(
      ErrorCode.ServiceUnavailable,
      `cannot reach the Burrow server at ${this.config.apiUrl} (${cause}); is it running? Set apiUrl or BURROW_API_URL if it listens elsewhere`,
      { cause: err },
    );
  }
}

function withJsonBody(init: SendInit & { json?: unknown }): SendInit {
  if (init.json === undefined) return init;
  return {
    ...init,
    headers: { "Content-Type": "application/json", ...init.headers },
    body: JSON.stringify(init.json),
  };
}

/** Node's fetch hides the socket error (ECONNREFUSED, …) in `cause`. */
function describeCause(err: Error): string {
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error && cause.message !== "") return cause.message;
  return err.message;
}
