/** `sandbox.commands`: run, follow and control processes in a sandbox. */
import {
  ErrorCode,
  type ProcessConfig,
  type ProcessListResponse,
  ProcessMethod,
  ProcessSignal,
  type ProcessStreamMessage,
  toBase64,
} from "@burrow/core";
import { CommandHandle, type CommandHandleInit, type OutputCallback } from "./command-handle.js";
import type { EnvdClient, UserRequestOptions } from "./envd.js";
import { type CommandResult, rpcCodeOf, UnavailableError } from "./errors.js";
import type { RequestOptions } from "./http.js";
import { OperationScope } from "./signals.js";

/** Default limit on a command's run time, as in E2B; 0 disables it. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 60_000;

export interface CommandStartOptions extends UserRequestOptions {
  /** Return a CommandHandle right after the process starts instead of waiting for it. */
  background?: boolean;
  cwd?: string;
  envs?: Record<string, string>;
  onStdout?: OutputCallback<string>;
  onStderr?: OutputCallback<string>;
  /** Keep stdin open for `sendStdin`; default false. */
  stdin?: boolean;
  /**
   * Limit on the run time, counted from the start; when it passes the process is killed and
   * `wait()` rejects with TimeoutError. Default 60 s; 0 disables. Aborting `signal` also kills it.
   */
  timeoutMs?: number;
  /** Limit of accumulated stdout and of stderr; default 16 MiB each. */
  maxOutputBytes?: number;
}

export interface CommandConnectOptions extends RequestOptions {
  onStdout?: OutputCallback<string>;
  onStderr?: OutputCallback<string>;
  /** Kills the process when it runs this much longer; default 0 (no limit). Aborting `signal` only disconnects. */
  timeoutMs?: number;
  maxOutputBytes?: number;
}

export interface ProcessInfo {
  pid: number;
  tag?: string;
  cmd: string;
  args: string[];
  envs: Record<string, string>;
  cwd?: string;
}

/** What a stream-opening call needs; shared with the Pty module. */
export interface StreamStart {
  method: string;
  request: unknown;
  user?: string | undefined;
  opts: RequestOptions;
  timeoutMs: number;
  killOnCallerAbort: boolean;
  describe: string;
  handle: Pick<CommandHandleInit, "onStdout" | "onStderr" | "onPty" | "maxOutputBytes"> & {
    sendInput: (pid: number, data: string | Uint8Array, opts?: RequestOptions) => Promise<void>;
    closeStdin?: (pid: number, opts?: RequestOptions) => Promise<void>;
  };
}

export class Commands {
  constructor(private readonly envd: EnvdClient) {}

  /** Runs `cmd` with `/bin/bash -l -c` and waits for it; throws CommandExitError on a non-zero exit. */
  run(cmd: string, opts?: CommandStartOptions & { background?: false }): Promise<CommandResult>;
  /** Starts `cmd` with `/bin/bash -l -c` and returns its handle once it runs. */
  run(cmd: string, opts: CommandStartOptions & { background: true }): Promise<CommandHandle>;
  run(cmd: string, opts?: CommandStartOptions): Promise<CommandResult | CommandHandle>;
  async run(cmd: string, opts: CommandStartOptions = {}): Promise<CommandResult | CommandHandle> {
    const process: ProcessConfig = { cmd: "/bin/bash", args: ["-l", "-c", cmd] };
    if (opts.envs !== undefined) process.envs = opts.envs;
    if (opts.cwd !== undefined) process.cwd = opts.cwd;
    const handle = await this.openStream({
      method: ProcessMethod.Start,
      request: { process, stdin: opts.stdin ?? false },
      user: opts.user,
      opts,
      timeoutMs: opts.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
      killOnCallerAbort: true,
      describe: `command '${cmd.length > 60 ? `${cmd.slice(0, 57)}...` : cmd}'`,
      handle: {
        onStdout: opts.onStdout,
        onStderr: opts.onStderr,
        maxOutputBytes: opts.maxOutputBytes,
        sendInput: (pid, data, o) => this.sendStdin(pid, data, o),
        closeStdin: (pid, o) => this.closeStdin(pid, o),
      },
    });
    return opts.background === true ? handle : handle.wait();
  }

  /** Follows a running process by pid; its buffered output is replayed first. */
  async connect(pid: number, opts: CommandConnectOptions = {}): Promise<CommandHandle> {
    return this.openStream({
      method: ProcessMethod.Connect,
      request: { process: { pid } },
      opts,
      timeoutMs: opts.timeoutMs ?? 0,
      killOnCallerAbort: false,
      describe: `process ${pid}`,
      handle: {
        onStdout: opts.onStdout,
        onStderr: opts.onStderr,
        maxOutputBytes: opts.maxOutputBytes,
        sendInput: (p, data, o) => this.sendStdin(p, data, o),
        closeStdin: (p, o) => this.closeStdin(p, o),
      },
    });
  }

  async list(opts?: RequestOptions): Promise<ProcessInfo[]> {
    const res = await this.envd.unary<ProcessListResponse>(ProcessMethod.List, {}, opts, "process");
    return (res?.processes ?? []).map((p) => {
      const info: ProcessInfo = {
        pid: p.pid ?? 0,
        cmd: p.config?.cmd ?? "",
        args: p.config?.args ?? [],
        envs: p.config?.envs ?? {},
      };
      if (p.tag !== undefined && p.tag !== "") info.tag = p.tag;
      if (p.config?.cwd !== undefined && p.config.cwd !== "") info.cwd = p.config.cwd;
      return info;
    });
  }

  /** Sends SIGKILL; false when no such process exists. */
  async kill(pid: number, opts?: RequestOptions): Promise<boolean> {
    try {
      await this.envd.unary(
        ProcessMethod.SendSignal,
        { process: { pid }, signal: ProcessSignal.SIGKILL },
        opts,
        "process",
      );
      return true;
    } catch (err) {
      if (rpcCodeOf(err) === "not_found") return false;
      throw err;
    }
  }

  async sendStdin(pid: number, data: string | Uint8Array, opts?: RequestOptions): Promise<void> {
    await this.envd.unary(
      ProcessMethod.SendInput,
      { process: { pid }, input: { stdin: toBase64(data) } },
      opts,
      "process",
    );
  }

  async closeStdin(pid: number, opts?: RequestOptions): Promise<void> {
    await this.envd.unary(ProcessMethod.CloseStdin, { process: { pid } }, opts, "process");
  }

  /**
   * Opens a Start or Connect stream, waits for its start event (bounded by requestTimeoutMs),
   * then arms the command timeout and hands the rest of the stream to a CommandHandle.
   */
  async openStream(start: StreamStart): Promise<CommandHandle> {
    const scope = new OperationScope(start.opts.signal);
    scope.setDeadline(
      start.opts.requestTimeoutMs ?? this.envd.api.config.requestTimeoutMs,
      `starting ${start.describe} in sandbox ${this.envd.sandboxId}`,
    );
    let events: AsyncGenerator<unknown, void, undefined> | undefined;
    let pid: number;
    try {
      events = await this.envd.stream(start.method, start.request, start.user, scope, "process");
      pid = await firstPid(events);
    } catch (err) {
      await events?.return();
      scope.dispose();
      throw scope.reasonFor(err);
    }
    scope.setDeadline(
      start.timeoutMs,
      `${start.describe} (pid ${pid})`,
      "it was killed; pass a larger timeoutMs, or 0 for no limit",
    );
    const { sendInput, closeStdin, ...callbacks } = start.handle;
    return new CommandHandle({
      ...callbacks,
      pid,
      events,
      scope,
      killOnCallerAbort: start.killOnCallerAbort,
      kill: () => this.kill(pid),
      sendInput: (data, o) => sendInput(pid, data, o),
      ...(closeStdin === undefined ? {} : { closeStdin: (o?: RequestOptions) => closeStdin(pid, o) }),
    });
  }
}

/** Reads the stream's first event, which must be `start{pid}`. */
async function firstPid(events: AsyncGenerator<unknown, void, undefined>): Promise<number> {
  const first = await events.next();
  const pid = first.done ? undefined : (first.value as ProcessStreamMessage | undefined)?.event?.start?.pid;
  if (typeof pid !== "number") {
    throw new UnavailableError(ErrorCode.SandboxUnreachable, "envd did not report the process start");
  }
  return pid;
}
