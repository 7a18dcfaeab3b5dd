import { type ChildProcess, execFile, type SpawnOptions, spawn } from "node:child_process";
import { promisify } from "node:util";

export const run = promisify(execFile);

/**
 * A service's process, started detached from the test's stdio. Keeps the tail of its output for
 * error messages and resolves `exited` when it ends.
 */
export class ServiceProcess {
  private tailText = "";
  readonly exited: Promise<number | null>;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    const keep = (chunk: Buffer) => {
      this.tailText = (this.tailText + chunk.toString("utf8")).slice(-4000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    this.exited = new Promise((resolve) => {
      child.once("exit", (code) => resolve(code));
      child.once("error", (err) => {
        keep(Buffer.from(`\n${err.message}\n`));
        resolve(null);
      });
    });
  }

  static start(name: string, argv: readonly string[], options: SpawnOptions = {}): ServiceProcess {
    const [cmd, ...args] = argv;
    if (cmd === undefined) throw new Error("empty argv");
    return new ServiceProcess(name, spawn(cmd, args, { ...options, stdio: ["ignore", "pipe", "pipe"] }));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get stdout(): NodeJS.ReadableStream | null {
    return this.child.stdout;
  }

  tail(): string {
    return this.tailText.trim();
  }

  /**
   * Resolves with the first match of `pattern` in what the process writes to `stream` from now
   * on; rejects when the process exits or `timeoutMs` passes first.
   */
  waitFor(stream: "stdout" | "stderr", pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    const source = stream === "stdout" ? this.child.stdout : this.child.stderr;
    return new Promise((resolve, reject) => {
      let buffered = "";
      let settled = false;
      const finish = (err: Error | undefined, match?: RegExpExecArray) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        source?.off("data", onData);
        if (match) resolve(match);
        else reject(err);
      };
      const onData = (chunk: Buffer) => {
        buffered = (buffered + chunk.toString("utf8")).slice(-64_000);
        const match = pattern.exec(buffered);
        if (match) finish(undefined, match);
      };
      const timer = setTimeout(() => finish(this.failure(`not ready after ${timeoutMs} ms`)), timeoutMs);
      source?.on("data", onData);
      void this.exited.then((code) => finish(this.failure(`exited with code ${code} before it was ready`)));
    });
  }

  failure(what: string): Error {
    return new Error(`${this.name} ${what}:\n${this.tail()}`);
  }

  /** Sends `signal` to this process only (by PID); SIGKILL after `graceMs`; resolves when it is gone. */
  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 10_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    try {
      await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}
