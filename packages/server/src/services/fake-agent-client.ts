import type { AgentClient, AgentTarget } from "./agent-client.js";
import type { AgentConnections } from "./agent-connections.js";
import type { AgentProcessResult, AgentProcessSpec } from "./agent-process.js";

/** One call the fake agent client received. */
export type FakeAgentCall =
  | { op: "waitReady"; host: string }
  | { op: "init"; host: string; env: Record<string, string> }
  | { op: "disconnect"; host: string }
  | { op: "runProcess"; host: string; spec: AgentProcessSpec; detach: boolean };

/**
 * The agent client for sandboxes of a fake runtime (component tests): every agent is ready at
 * once and accepts its init; calls are recorded. `failInit` makes inits fail, as a refusing agent would.
 * Requests forwarded to a fake sandbox's address still use real connections: `disconnect` closes them.
 */
export class FakeAgentClient implements AgentClient {
  readonly calls: FakeAgentCall[] = [];
  failInit: Error | undefined;

  constructor(private readonly connections?: AgentConnections) {}

  async waitReady(target: AgentTarget): Promise<void> {
    this.calls.push({ op: "waitReady", host: target.host });
  }

  async init(target: AgentTarget, _token: string, env: Record<string, string>): Promise<void> {
    this.calls.push({ op: "init", host: target.host, env: { ...env } });
    if (this.failInit) throw this.failInit;
  }

  async metrics(): Promise<unknown> {
    return undefined;
  }

  async acceptsToken(): Promise<boolean> {
    return true;
  }

  /** What runProcess answers (exit 0 by default), per call, for tests of start and ready commands. */
  processResult: (spec: AgentProcessSpec) => AgentProcessResult = () => ({ pid: 100, exitCode: 0, output: "" });

  async runProcess(
    target: AgentTarget,
    _token: string,
    spec: AgentProcessSpec,
    opts: { detach: boolean },
  ): Promise<AgentProcessResult> {
    this.calls.push({ op: "runProcess", host: target.host, spec, detach: opts.detach });
    const result = this.processResult(spec);
    return opts.detach ? { pid: result.pid } : result;
  }

  disconnect(target: AgentTarget): void {
    this.calls.push({ op: "disconnect", host: target.host });
    this.connections?.reset(target.host);
  }
}
