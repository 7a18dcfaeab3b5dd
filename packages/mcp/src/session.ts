/** What the tools of one MCP session share: how to reach Burrow, and the processes it follows. */
import type { Logger } from "@burrow/core";
import { type ConnectionOptions, Sandbox, type SandboxApiOptions } from "@burrow/sdk";
import { ProcessTracker } from "./processes.js";

export class Session {
  readonly processes = new ProcessTracker();

  constructor(
    /** Connection settings for every Burrow call of this session (e.g. the client's API key). */
    readonly connection: ConnectionOptions,
    readonly logger: Logger,
  ) {}

  /** SDK options for one call, bounded by the MCP request's signal. */
  api(signal?: AbortSignal): SandboxApiOptions {
    return signal === undefined ? { ...this.connection } : { ...this.connection, signal };
  }

  /** Attaches to a sandbox; throws SandboxNotFoundError when there is none. */
  sandbox(sandboxId: string, signal?: AbortSignal): Promise<Sandbox> {
    return Sandbox.connect(sandboxId, this.api(signal));
  }

  /** Releases what the session holds; processes keep running in their sandboxes. */
  async dispose(): Promise<void> {
    await this.processes.dispose();
  }
}
