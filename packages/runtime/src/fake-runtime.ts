import { BurrowError, ErrorCode } from "@burrow/core";
import type { AgentEndpoint, ExecResult, Runtime, RuntimeSandbox, SandboxSpec } from "./runtime.js";

/** In-memory Runtime for unit and component tests: records sandboxes, runs nothing. */
export class FakeRuntime implements Runtime {
  readonly sandboxes = new Map<string, { spec: SandboxSpec; status: RuntimeSandbox["status"] }>();
  /** When set, the next create fails with this message. */
  failNextCreate: string | undefined;

  async create(spec: SandboxSpec): Promise<void> {
    if (this.failNextCreate !== undefined) {
      const message = this.failNextCreate;
      this.failNextCreate = undefined;
      throw new BurrowError(ErrorCode.RuntimeFailed, message);
    }
    this.sandboxes.set(spec.id, { spec, status: "running" });
  }

  async prepareHost(): Promise<void> {}

  async destroy(id: string): Promise<void> {
    this.sandboxes.delete(id);
  }

  async status(id: string): Promise<RuntimeSandbox> {
    const sb = this.sandboxes.get(id);
    return { id, status: sb ? sb.status : "absent" };
  }

  async list(): Promise<RuntimeSandbox[]> {
    return [...this.sandboxes].map(([id, sb]) => ({ id, status: sb.status }));
  }

  async exec(id: string): Promise<ExecResult> {
    if (!this.sandboxes.has(id)) throw new BurrowError(ErrorCode.SandboxNotFound, `sandbox ${id} not found`);
    return { exitCode: 0, stdout: "", stderr: "" };
  }

  /** Simulates the sandbox process dying. */
  kill(id: string): void {
    const sb = this.sandboxes.get(id);
    if (sb) sb.status = "stopped";
  }

  agentEndpoint(): AgentEndpoint {
    // Nothing listens here: requests to a fake sandbox's agent fail like an unreachable one.
    return { host: "127.0.0.1", port: 9 };
  }

  async agentLogTail(): Promise<string> {
    return "";
  }

  async close(): Promise<void> {}
}
