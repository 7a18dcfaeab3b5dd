/** `sandbox.pty`: interactive terminals (bash in a pseudo-terminal). */
import { ProcessMethod, type PtySize, toBase64 } from "@burrow/core";
import type { CommandHandle, OutputCallback } from "./command-handle.js";
import { type Commands, DEFAULT_COMMAND_TIMEOUT_MS } from "./commands.js";
import type { EnvdClient, UserRequestOptions } from "./envd.js";
import type { RequestOptions } from "./http.js";

export interface PtyCreateOptions extends UserRequestOptions {
  cols: number;
  rows: number;
  /** Raw terminal output. */
  onData?: OutputCallback<Uint8Array>;
  cwd?: string;
  /** Added to TERM=xterm-256color, LANG=C.UTF-8, LC_ALL=C.UTF-8 (which they may override). */
  envs?: Record<string, string>;
  /** Kills the terminal after this long; default 60 s as in E2B; 0 disables. */
  timeoutMs?: number;
}

export class Pty {
  constructor(
    private readonly envd: EnvdClient,
    private readonly commands: Commands,
  ) {}

  /** Starts `/bin/bash -i -l` in a PTY; the handle's `sendStdin` writes to the terminal. */
  async create(opts: PtyCreateOptions): Promise<CommandHandle> {
    const envs = { TERM: "xterm-256color", LANG: "C.UTF-8", LC_ALL: "C.UTF-8", ...opts.envs };
    const process: { cmd: string; args: string[]; envs: Record<string, string>; cwd?: string } = {
      cmd: "/bin/bash",
      args: ["-i", "-l"],
      envs,
    };
    if (opts.cwd !== undefined) process.cwd = opts.cwd;
    return this.commands.openStream({
      method: ProcessMethod.Start,
      request: { process, pty: { size: { cols: opts.cols, rows: opts.rows } } },
      user: opts.user,
      opts,
      timeoutMs: opts.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
      killOnCallerAbort: true,
      describe: "terminal",
      handle: {
        onPty: opts.onData,
        sendInput: (pid, data, o) => this.sendInput(pid, data, o),
      },
    });
  }

  /** Writes to the terminal, as typed keys. */
  async sendInput(pid: number, data: string | Uint8Array, opts?: RequestOptions): Promise<void> {
    await this.envd.unary(
      ProcessMethod.SendInput,
      { process: { pid }, input: { pty: toBase64(data) } },
      opts,
      "process",
    );
  }

  async resize(pid: number, size: PtySize, opts?: RequestOptions): Promise<void> {
    await this.envd.unary(ProcessMethod.Update, { process: { pid }, pty: { size } }, opts, "process");
  }

  /** Sends SIGKILL; false when no such process exists. */
  async kill(pid: number, opts?: RequestOptions): Promise<boolean> {
    return this.commands.kill(pid, opts);
  }
}
