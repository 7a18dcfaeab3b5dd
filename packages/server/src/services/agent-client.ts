import { request } from "node:http";
import { BurrowError, ErrorCode, errorMessage } from "@burrow/core";
import type { AgentConnections } from "./agent-connections.js";
import { type AgentProcessResult, type AgentProcessSpec, runAgentProcess } from "./agent-process.js";

/** Where a sandbox's agent listens. */
export interface AgentTarget {
  host: string;
  port: number;
}

export interface AgentResponse {
  status: number;
  body: string;
}

/** How long a new, restored or restarted agent gets to answer /health. */
export const AGENT_READY_TIMEOUT_MS = 15_000;

/**
 * What the services ask of a sandbox's agent. The HTTP client below talks to real agents; the
 * fake (fake-agent-client.ts) answers for sandboxes of a fake runtime in component tests.
 */
export interface AgentClient {
  /** Resolves once the agent answers /health; fails after `timeoutMs`. */
  waitReady(target: AgentTarget, token: string, timeoutMs?: number): Promise<void>;
  /** Gives the agent the sandbox-wide env (`POST /init`); fails unless the agent accepts it. */
  init(target: AgentTarget, token: string, env: Record<string, string>, defaultWorkdir?: string): Promise<void>;
  /** The agent's current metrics (`GET /metrics`, JSON), or undefined when it does not answer. */
  metrics(target: AgentTarget, token: string): Promise<unknown>;
  /** Whether the agent takes `token` (false: it answers 401, its token was changed); throws when unreachable. */
  acceptsToken(target: AgentTarget, token: string): Promise<boolean>;
  /** Closes pooled connections to the address (before it stops, is checkpointed or reused). */
  disconnect(target: AgentTarget): void;
  /** Starts a process through the agent: detached (answers at its start), or waiting for its end. */
  runProcess(
    target: AgentTarget,
    token: string,
    spec: AgentProcessSpec,
    opts: { detach: boolean; timeoutMs: number },
  ): Promise<AgentProcessResult>;
}

const AGENT_POLL_MS = 3;

/** The agent client of a real server: HTTP over the pooled keep-alive connections. */
export class HttpAgentClient implements AgentClient {
  constructor(private readonly connections: AgentConnections) {}

  /** One small request to an agent. */
  request(
    target: AgentTarget,
    token: string,
    method: string,
    path: string,
    body?: unknown,
    timeoutMs = 5_000,
  ): Promise<AgentResponse> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = request(
        {
          host: target.host,
          port: target.port,
          path,
          method,
          agent: this.connections.get(target.host),
          timeout: timeoutMs,
          headers: {
            "X-Access-Token": token,
            ...(payload ? { "Content-Type": "application/json", "Content-Length": payload.length } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new BurrowError(ErrorCode.Timeout, `agent did not answer ${path} in time`)));
      req.on("error", reject);
      req.end(payload);
    });
  }

  async waitReady(target: AgentTarget, token: string, timeoutMs = AGENT_READY_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastError = "no answer";
    while (Date.now() < deadline) {
      try {
        const res = await this.request(target, token, "GET", "/health", undefined, 1_000);
        if (res.status >= 200 && res.status < 300) return;
        lastError = `health answered ${res.status}`;
      } catch (err) {
        lastError = errorMessage(err);
      }
      // The agent is usually up within tens of ms of `runsc run`; a short fixed poll keeps
      // create latency close to that (a refused connect costs microseconds).
      await new Promise((r) => setTimeout(r, AGENT_POLL_MS));
    }
    throw new BurrowError(
      ErrorCode.RuntimeFailed,
      `the sandbox agent did not become ready in ${timeoutMs} ms: ${lastError}`,
    );
  }

  /** Sets the agent's env; `defaultWorkdir` (when given) is where requests naming no cwd run. */
  async init(target: AgentTarget, token: string, env: Record<string, string>, defaultWorkdir?: string): Promise<void> {
    const body = defaultWorkdir === undefined ? { envVars: env } : { envVars: env, defaultWorkdir };
    const res = await this.request(target, token, "POST", "/init", body);
    if (res.status >= 300) {
      throw new BurrowError(ErrorCode.RuntimeFailed, `the sandbox agent refused init (${res.status}): ${res.body}`);
    }
  }

  async metrics(target: AgentTarget, token: string): Promise<unknown> {
    const res = await this.request(target, token, "GET", "/metrics");
    if (res.status !== 200) return undefined;
    try {
      return JSON.parse(res.body) as unknown;
    } catch {
      return undefined;
    }
  }

  async acceptsToken(target: AgentTarget, token: string): Promise<boolean> {
    return (await this.request(target, token, "GET", "/envs")).status !== 401;
  }

  disconnect(target: AgentTarget): void {
    this.connections.reset(target.host);
  }

  runProcess(
    target: AgentTarget,
    token: string,
    spec: AgentProcessSpec,
    opts: { detach: boolean; timeoutMs: number },
  ): Promise<AgentProcessResult> {
    return runAgentProcess(target, token, spec, opts);
  }
}
