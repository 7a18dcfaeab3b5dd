import { spawn } from "node:child_process";
import { StringDecoder } from "node:string_decoder";
import type { CommandResult, CommandRunner, RunCommandOptions } from "./command-runner.js";

const MAX_CAPTURE_BYTES = 1 << 20;

function keepTail(chunks: Buffer[], total: number): string {
  const all = Buffer.concat(chunks);
  return (total > MAX_CAPTURE_BYTES ? all.subarray(all.length - MAX_CAPTURE_BYTES) : all).toString("utf8");
}

/**
 * Runs commands as direct children of this process. Used when burrow-shim is unavailable. Each
 * child gets a session of its own, like the shim: a stop signal to the server's process group
 * (Ctrl-C) must not reach runsc or the sandboxes it leaves running.
 */
export class SpawnRunner implements CommandRunner {
  run(argv: string[], options: RunCommandOptions): Promise<CommandResult> {
    const [file, ...args] = argv;
    if (file === undefined) return Promise.reject(new Error("empty argv"));
    return new Promise((resolve) => {
      const child = spawn(file, args, {
        stdio: options.stdio === "null" ? "ignore" : ["ignore", "pipe", "pipe"],
        timeout: options.timeoutMs,
        killSignal: "SIGKILL",
        detached: true,
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let outLen = 0;
      let errLen = 0;
      const onOutput = options.onOutput;
      const stdout = new StringDecoder("utf8");
      const stderr = new StringDecoder("utf8");
      child.stdout?.on("data", (c: Buffer) => {
        out.push(c);
        outLen += c.length;
        onOutput?.(stdout.write(c), "stdout");
      });
      child.stderr?.on("data", (c: Buffer) => {
        err.push(c);
        errLen += c.length;
        onOutput?.(stderr.write(c), "stderr");
      });
      let spawnError: Error | undefined;
      child.on("error", (e) => {
        spawnError = e;
      });
      child.on("close", (code, signal) => {
        resolve({
          exitCode: code ?? (signal ? 128 : 127),
          stdout: keepTail(out, outLen),
          stderr: spawnError ? spawnError.message : keepTail(err, errLen),
          timedOut: signal === "SIGKILL" && code === null,
        });
      });
    });
  }

  async close(): Promise<void> {}
}
