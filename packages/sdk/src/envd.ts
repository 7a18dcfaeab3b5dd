/**
 * Connect-protocol client for one sandbox's agent, reached through the server's envd proxy
 * (`/v1/sandboxes/{id}/envd/...`). Only the Burrow API key and `X-Burrow-User` are sent; the
 * server adds the agent's access token and turns the user header into envd's Basic auth.
 */
import {
  BURROW_USER_HEADER,
  BurrowError,
  CONNECT_PROTOCOL_VERSION,
  CONNECT_PROTOCOL_VERSION_HEADER,
  CONNECT_STREAM_CONTENT_TYPE,
  CONNECT_UNARY_CONTENT_TYPE,
  ErrorCode,
  encodeEnvelope,
  envdBasePath,
  KEEPALIVE_PING_HEADER,
  readConnectStream,
} from "@burrow/core";
import { type ErrorSubject, translateError, UnavailableError } from "./errors.js";
import type { ApiClient, Query, RequestOptions } from "./http.js";
import type { OperationScope } from "./signals.js";

/** Options of calls that run as a user inside the sandbox. */
export interface UserRequestOptions extends RequestOptions {
  /** Linux user inside the sandbox; default: the agent's default user. */
  user?: string;
}

/** Seconds between keepalive events envd sends on idle streams (keeps proxies from timing out). */
const KEEPALIVE_INTERVAL_SEC = 30;

export class EnvdClient {
  private readonly base: string;

  constructor(
    readonly api: ApiClient,
    readonly sandboxId: string,
  ) {
    this.base = envdBasePath(sandboxId);
  }

  private headers(user: string | undefined, contentType: string): Record<string, string> {
    const headers: Record<string, string> = {
      "Content-Type": contentType,
      [CONNECT_PROTOCOL_VERSION_HEADER]: CONNECT_PROTOCOL_VERSION,
    };
    if (user !== undefined) headers[BURROW_USER_HEADER] = user;
    return headers;
  }

  /** One unary RPC, bounded by the request deadline. */
  async unary<Res>(method: string, request: unknown, opts: UserRequestOptions | undefined, subject?: ErrorSubject) {
    return this.api.json<Res>(
      {
        method: "POST",
        path: `${this.base}${method}`,
        headers: this.headers(opts?.user, CONNECT_UNARY_CONTENT_TYPE),
        body: JSON.stringify(request),
        subject,
      },
      opts,
      `${method.slice(1)} in sandbox ${this.sandboxId}`,
    );
  }

  /**
   * Opens a server-streaming RPC under `scope` and returns its messages. Errors in the stream
   * are translated; an abort surfaces as the scope's reason.
   */
  async stream(
    method: string,
    request: unknown,
    user: string | undefined,
    scope: OperationScope,
    subject?: ErrorSubject,
  ): Promise<AsyncGenerator<unknown, void, undefined>> {
    const headers = this.headers(user, CONNECT_STREAM_CONTENT_TYPE);
    headers[KEEPALIVE_PING_HEADER] = String(KEEPALIVE_INTERVAL_SEC);
    const res = await this.api.send(
      {
        method: "POST",
        path: `${this.base}${method}`,
        headers,
        body: encodeEnvelope(request),
        subject,
      },
      scope,
    );
    if (res.body === null) {
      throw new UnavailableError(ErrorCode.SandboxUnreachable, `${method.slice(1)} replied without a body`);
    }
    return this.translated(readConnectStream(res.body), scope, subject);
  }

  private async *translated(
    messages: AsyncGenerator<unknown, void, undefined>,
    scope: OperationScope,
    subject: ErrorSubject | undefined,
  ): AsyncGenerator<unknown, void, undefined> {
    try {
      yield* messages;
    } catch (err) {
      if (scope.aborted) throw scope.reasonFor(err);
      if (err instanceof BurrowError) throw translateError({ error: err }, subject);
      throw new UnavailableError(
        ErrorCode.SandboxUnreachable,
        `lost the connection to sandbox ${this.sandboxId}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  }

  /** A plain HTTP request to the agent (the `/files` endpoint). */
  async http(
    method: string,
    path: string,
    init: { query?: Query; headers?: Record<string, string>; body?: BodyInit; streamBody?: boolean },
    scope: OperationScope,
    subject?: ErrorSubject,
  ): Promise<Response> {
    return this.api.send({ method, path: `${this.base}${path}`, ...init, subject }, scope);
  }
}
