/** A running process in a sandbox: its output as it arrives, its exit, and control over it. */
import { BurrowError, base64ToBytes, ErrorCode, type ProcessEndEvent, type ProcessEvent } from "@burrow/core";
import { CommandExitError, type CommandResult, UnavailableError } from "./errors.js";
import type { RequestOptions } from "./http.js";
import { DEFAULT_MAX_OUTPUT_BYTES, OutputChannel, TextAccumulator } from "./output.js";
import type { OperationScope } from "./signals.js";

/** One piece of output; exactly one member is set. */
export interface CommandChunk {
  stdout?: string;
  stderr?: string;
  /** Raw terminal output of a PTY process. */
  pty?: Uint8Array;
}

export type OutputCallback<T> = (data: T) => void | Promise<void>;

/** What the Commands and Pty modules hand a new handle. */
export interface CommandHandleInit {
  pid: number;
  /** The rest of the Start/Connect stream, after its start event. */
  events: AsyncGenerator<unknown, void, undefined>;
  /** Cancels the stream; its deadline is the command timeout. */
  scope: OperationScope;
  /** Whether aborting the caller's signal kills the process (true for started commands). */
  killOnCallerAbort: boolean;
  kill: () => Promise<boolean>;
  sendInput: (data: string | Uint8Array, opts?: RequestOptions) => Promise<void>;
  closeStdin?: (opts?: RequestOptions) => Promise<void>;
  onStdout?: OutputCallback<string> | undefined;
  onStderr?: OutputCallback<string> | undefined;
  onPty?: OutputCallback<Uint8Array> | undefined;
  /** Limit of accumulated stdout and of stderr, and of output queued for iteration. */
  maxOutputBytes?: number | undefined;
}

/**
 * Handle of a started or reconnected process. Output is delivered to the callbacks and to one
 * async iterator (`for await (const chunk of handle)`), and accumulated in `stdout`/`stderr` up
 * to `maxOutputBytes` (16 MiB) per stream; the head is kept and `truncated` says what was cut.
 * Output that arrives before iteration starts is queued up to the same limit, then dropped.
 */
export class CommandHandle implements AsyncIterable<CommandChunk> {
  readonly pid: number;
  private readonly out: TextAccumulator;
  private readonly err: TextAccumulator;
  private readonly liveOut = new TextDecoder();
  private readonly liveErr = new TextDecoder();
  private readonly channel: OutputChannel<CommandChunk>;
  private result: CommandResult | undefined;
  private failure: { error: unknown } | undefined;
  private stopped = false;
  private killing: Promise<unknown> | undefined;
  private readonly done: Promise<void>;

  constructor(private readonly init: CommandHandleInit) {
    this.pid = init.pid;
    const max = init.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    this.out = new TextAccumulator(max);
    this.err = new TextAccumulator(max);
    this.channel = new OutputChannel(max);
    init.scope.signal.addEventListener("abort", () => this.onAbort(), { once: true });
    this.done = this.pump();
  }

  /** stdout received so far (capped; see `truncated`). */
  get stdout(): string {
    return this.out.text;
  }
  get stderr(): string {
    return this.err.text;
  }
  /** Exit code once the process has ended, else undefined. */
  get exitCode(): number | undefined {
    return this.result?.exitCode;
  }
  get error(): string | undefined {
    return this.result?.error;
  }
  get truncated(): { stdout: boolean; stderr: boolean } {
    return { stdout: this.out.truncated, stderr: this.err.truncated };
  }

  /**
   * Waits for the process to end. Resolves with the result on exit code 0; rejects with
   * CommandExitError otherwise, with TimeoutError when `timeoutMs` passed (the process is then
   * killed), or with the stream's error.
   */
  async wait(): Promise<CommandResult> {
    await this.done;
    if (this.failure !== undefined) throw this.failure.error;
    const result = this.result as CommandResult;
    if (result.exitCode !== 0) throw new CommandExitError(result);
    return result;
  }

  /** Sends SIGKILL; false when the process no longer exists. */
  async kill(): Promise<boolean> {
    return this.init.kill();
  }

  async sendStdin(data: string | Uint8Array, opts?: RequestOptions): Promise<void> {
    await this.init.sendInput(data, opts);
  }

  async closeStdin(opts?: RequestOptions): Promise<void> {
    if (this.init.closeStdin === undefined) {
      throw new BurrowError(ErrorCode.BadRequest, "a PTY has no stdin to close; send Ctrl-D (0x04) instead");
    }
    await this.init.closeStdin(opts);
  }

  /**
   * Stops following the process without killing it; callbacks stop firing and `wait()` rejects.
   * Reconnect with `commands.connect(pid)`.
   */
  async disconnect(): Promise<void> {
    if (this.result === undefined && !this.stopped) {
      this.stopped = true;
      this.init.scope.abort(
        new BurrowError(
          ErrorCode.BadRequest,
          `stopped following process ${this.pid} (disconnect() was called); reconnect with commands.connect(${this.pid})`,
        ),
      );
    }
    await this.done;
  }

  [Symbol.asyncIterator](): AsyncIterator<CommandChunk> {
    return this.channel.iterator();
  }

  private onAbort(): void {
    if (this.result !== undefined || this.stopped) return;
    if (this.init.scope.abortedByCaller && !this.init.killOnCallerAbort) return;
    this.killing = this.init.kill().catch(() => false);
  }

  private async pump(): Promise<void> {
    let error: unknown;
    try {
      for await (const message of this.init.events) {
        const event = (message as { event?: ProcessEvent } | undefined)?.event;
        if (event?.data !== undefined) await this.onData(event.data);
        else if (event?.end !== undefined) {
          this.finish(event.end);
          break;
        }
      }
      if (this.result === undefined) {
        error = new UnavailableError(
          ErrorCode.SandboxUnreachable,
          `the output stream of process ${this.pid} ended before the process did`,
        );
      }
    } catch (err) {
      error = this.init.scope.reasonFor(err);
    }
    this.init.scope.dispose();
    await this.emitRest();
    if (this.killing !== undefined) await this.killing;
    if (this.result === undefined) this.failure = { error };
    this.channel.close(this.failure?.error);
  }

  private async onData(data: NonNullable<ProcessEvent["data"]>): Promise<void> {
    if (data.stdout !== undefined) {
      const bytes = base64ToBytes(data.stdout);
      this.out.push(bytes);
      await this.emitText("stdout", this.liveOut.decode(bytes, { stream: true }));
    } else if (data.stderr !== undefined) {
      const bytes = base64ToBytes(data.stderr);
      this.err.push(bytes);
      await this.emitText("stderr", this.liveErr.decode(bytes, { stream: true }));
    } else if (data.pty !== undefined) {
      const bytes = base64ToBytes(data.pty);
      if (this.stopped || bytes.length === 0) return;
      await this.init.onPty?.(bytes);
      await this.channel.push({ pty: bytes }, bytes.length);
    }
  }

  private async emitText(stream: "stdout" | "stderr", text: string): Promise<void> {
    if (this.stopped || text === "") return;
    const callback = stream === "stdout" ? this.init.onStdout : this.init.onStderr;
    await callback?.(text);
    await this.channel.push(stream === "stdout" ? { stdout: text } : { stderr: text }, text.length);
  }

  /** Flushes partial UTF-8 sequences left in the decoders. */
  private async emitRest(): Promise<void> {
    this.out.end();
    this.err.end();
    try {
      await this.emitText("stdout", this.liveOut.decode());
      await this.emitText("stderr", this.liveErr.decode());
    } catch {
      // The process has ended; a callback failing on the last bytes does not change its result.
    }
  }

  private finish(end: ProcessEndEvent): void {
    const truncated = this.truncated;
    this.out.end();
    this.err.end();
    const result: CommandResult = { stdout: this.out.text, stderr: this.err.text, exitCode: end.exitCode ?? 0 };
    if (end.error !== undefined && end.error !== "") result.error = end.error;
    if (truncated.stdout || truncated.stderr) result.truncated = truncated;
    this.result = result;
  }
}
