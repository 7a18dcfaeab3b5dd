/**
 * Background processes followed by one MCP session, so `read_command_output` returns each
 * piece of output once.
 *
 * A follower holds the process's output stream open and buffers what arrives until the next
 * read takes it. Processes this session did not start are followed with `commands.connect`,
 * whose replay of the agent's buffered output becomes the first read. If a stream breaks, the
 * next read reconnects and skips as many characters of the replay as were already received,
 * so reads do not repeat output (exact while the agent still holds the process's whole
 * output: its last 1 MiB).
 */
import { CommandExitError, type CommandHandle, type Sandbox } from "@burrow/sdk";
import { HeadTailBuffer, MAX_OUTPUT_CHARS } from "./truncate.js";

/** Followers one session keeps; past this the oldest finished ones are forgotten first. */
export const MAX_FOLLOWED_PROCESSES = 128;

/** The SDK's own per-handle accumulation is unused here; keep it minimal. */
const HANDLE_BUFFER_BYTES = 1024;

/** Once output arrives, a read waits until none has come for this long (a burst, a replay)… */
const SETTLE_MS = 50;
/** …but no longer than this in all. */
const MAX_SETTLE_MS = 500;

export type FollowState = "running" | "exited" | "disconnected";

export interface OutputRead {
  pid: number;
  state: FollowState;
  stdout: string;
  stderr: string;
  exitCode?: number;
  /** Why the process ended abnormally, or why following it stopped. */
  error?: string;
}

/** The stream options a follower needs when starting or connecting a process. */
export interface FollowCallbacks {
  onStdout: (text: string) => void;
  onStderr: (text: string) => void;
  maxOutputBytes: number;
}

export class ProcessFollower {
  private readonly stdout = new HeadTailBuffer(MAX_OUTPUT_CHARS);
  private readonly stderr = new HeadTailBuffer(MAX_OUTPUT_CHARS);
  /** Characters received per stream over the follower's life, for skipping a replay. */
  private received = { stdout: 0, stderr: 0 };
  private skip = { stdout: 0, stderr: 0 };
  private handle: CommandHandle | undefined;
  private waiters: (() => void)[] = [];
  /** Known once a handle is attached. */
  pid = 0;
  state: FollowState = "running";
  exitCode: number | undefined;
  error: string | undefined;

  constructor(readonly sandboxId: string) {}

  /** Callbacks to pass to `commands.run`/`commands.connect`; attach the handle they return. */
  callbacks(): FollowCallbacks {
    return {
      onStdout: (text) => this.receive("stdout", text),
      onStderr: (text) => this.receive("stderr", text),
      maxOutputBytes: HANDLE_BUFFER_BYTES,
    };
  }

  /** Follows `handle` until its process ends or the stream breaks. */
  attach(handle: CommandHandle): void {
    this.handle = handle;
    this.pid = handle.pid;
    this.state = "running";
    handle.wait().then(
      (result) => this.finish("exited", result.exitCode, undefined),
      (err: unknown) => {
        if (err instanceof CommandExitError) this.finish("exited", err.exitCode, err.error);
        else this.finish("disconnected", undefined, err instanceof Error ? err.message : String(err));
      },
    );
  }

  /** Prepares a reconnect: the new stream replays from the start, so skip what was received. */
  reconnecting(): void {
    this.skip = { ...this.received };
    this.received = { stdout: 0, stderr: 0 };
    this.error = undefined;
  }

  get hasOutput(): boolean {
    return this.stdout.length > 0 || this.stderr.length > 0;
  }

  /**
   * Waits up to `waitMs` for output or the end of the process when there is none yet, and for
   * a burst of output to finish, then returns everything buffered since the last read and
   * empties the buffers. `waitMs` 0 answers at once.
   */
  async read(waitMs: number, signal?: AbortSignal): Promise<OutputRead> {
    if (this.state === "running" && waitMs > 0) {
      if (!this.hasOutput) await this.waitForActivity(waitMs, signal);
      const settleUntil = Date.now() + MAX_SETTLE_MS;
      while (this.state === "running" && signal?.aborted !== true && Date.now() < settleUntil) {
        if (!(await this.waitForActivity(SETTLE_MS, signal))) break;
      }
    }
    const read: OutputRead = {
      pid: this.pid,
      state: this.state,
      stdout: this.stdout.take(),
      stderr: this.stderr.take(),
    };
    if (this.exitCode !== undefined) read.exitCode = this.exitCode;
    if (this.error !== undefined) read.error = this.error;
    return read;
  }

  /** Stops following without killing the process. */
  async stop(): Promise<void> {
    await this.handle?.disconnect().catch(() => undefined);
  }

  private receive(stream: "stdout" | "stderr", text: string): void {
    let rest = text;
    const skip = this.skip[stream];
    if (skip > 0) {
      const skipped = Math.min(skip, rest.length);
      this.skip[stream] -= skipped;
      rest = rest.slice(skipped);
    }
    this.received[stream] += text.length;
    if (rest === "") return;
    this[stream].push(rest);
    this.wake();
  }

  private finish(state: FollowState, exitCode: number | undefined, error: string | undefined): void {
    this.state = state;
    this.exitCode = exitCode;
    this.error = error;
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves true on new output or the end of the process, false after `ms` or an abort. */
  private waitForActivity(ms: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      let settled = false;
      const done = (active: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        if (!active) this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(active);
      };
      const waiter = () => done(true);
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), ms);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }
}

/** The followers of one session, by sandbox and pid. */
export class ProcessTracker {
  private readonly followers = new Map<string, ProcessFollower>();

  /** Follows a process this session starts: `start` gets the follower's callbacks and returns the handle. */
  async start(
    sandboxId: string,
    start: (callbacks: FollowCallbacks) => Promise<CommandHandle>,
  ): Promise<ProcessFollower> {
    const follower = new ProcessFollower(sandboxId);
    follower.attach(await start(follower.callbacks()));
    this.add(follower);
    return follower;
  }

  /**
   * The follower of `pid`, connecting to the process when this session does not follow it
   * yet, or following it again when its stream broke.
   */
  async follow(sandbox: Sandbox, pid: number): Promise<ProcessFollower> {
    const key = keyOf(sandbox.sandboxId, pid);
    const known = this.followers.get(key);
    if (known !== undefined && known.state !== "disconnected") return known;
    const follower = known ?? new ProcessFollower(sandbox.sandboxId);
    if (known !== undefined) follower.reconnecting();
    const { onStdout, onStderr, maxOutputBytes } = follower.callbacks();
    const handle = await sandbox.commands.connect(pid, { onStdout, onStderr, maxOutputBytes });
    follower.attach(handle);
    this.add(follower);
    return follower;
  }

  /** Stops following every process of a sandbox (after it was deleted). */
  async forgetSandbox(sandboxId: string): Promise<void> {
    const gone = [...this.followers.values()].filter((f) => f.sandboxId === sandboxId);
    for (const f of gone) this.followers.delete(keyOf(f.sandboxId, f.pid));
    await Promise.all(gone.map((f) => f.stop()));
  }

  /** Stops following everything; the processes keep running in their sandboxes. */
  async dispose(): Promise<void> {
    const all = [...this.followers.values()];
    this.followers.clear();
    await Promise.all(all.map((f) => f.stop()));
  }

  private add(follower: ProcessFollower): void {
    const key = keyOf(follower.sandboxId, follower.pid);
    this.followers.delete(key);
    this.followers.set(key, follower);
    while (this.followers.size > MAX_FOLLOWED_PROCESSES) {
      const entries = [...this.followers.entries()];
      const [oldKey, old] = entries.find(([, f]) => f.state !== "running") ?? (entries[0] as [string, ProcessFollower]);
      this.followers.delete(oldKey);
      void old.stop();
    }
  }
}

function keyOf(sandboxId: string, pid: number): string {
  return `${sandboxId}:${pid}`;
}
