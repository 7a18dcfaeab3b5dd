import { Agent, request } from "node:http";
import type { Duplex } from "node:stream";
import { BurrowError, ErrorCode, errorMessage } from "@burrow/core";

/**
 * Keep-alive connection pools, one per sandbox address. A pool is dropped whenever its sandbox
 * stops or is restored (the restored netstack knows none of the old connections).
 */
class AgentPools {
  private readonly pools = new Map<string, Agent>();
  private readonly adopted = new Map<string, Set<Duplex>>();

  get(host: string): Agent {
    let agent = this.pools.get(host);
    if (!agent) {
      agent = new Agent({ keepAlive: true, maxFreeSockets: 4, keepAliveMsecs: 10_000 });
      this.pools.set(host, agent);
    }
    return agent;
  }

  /** A connection taken out of the pool (an upgraded one) that must still close with it. */
  adopt(host: string, socket: Duplex): void {
    let set = this.adopted.get(host);
    if (!set) {
      set = new Set();
      this.adopted.set(host, set);
    }
    set.add(socket);
    socket.once("close", () => set.delete(socket));
  }

  reset(host: string): void {
    this.pools.get(host)?.destroy();
    this.pools.delete(host);
    for (const socket of this.adopted.get(host) ?? []) socket.destroy();
    this.adopted.delete(host);
  }
}

export const agentPools = new AgentPools();

export interface AgentResponse {
  status: number;
  body: string;
}

/** One small HTTP request to a sandbox agent. */
export interface AgentTarget {
  host: string;
  port: number;
}

export function agentRequest(
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
        agent: agentPools.get(target.host),
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

const AGENT_POLL_MS = 3;

/** Polls the agent's /health until it answers, or fails after `timeoutMs`. */
export async function waitForAgent(target: AgentTarget, token: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = "no answer";
  while (Date.now() < deadline) {
    try {
      const res = await agentRequest(target, token, "GET", "/health", undefined, 1_000);
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
