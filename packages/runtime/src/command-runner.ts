/** Runs host commands (runsc, mount) with a timeout, returning exit code and output. */
export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunCommandOptions {
  timeoutMs: number;
  /** "null": stdin/stdout/stderr are /dev/null (for commands that leave a sandbox behind). */
  stdio?: "pipe" | "null";
  /** Called with output as it arrives (with "pipe"); the result still carries all of it. */
  onOutput?: (chunk: string, stream: "stdout" | "stderr") => void;
}

export interface CommandRunner {
  run(argv: string[], options: RunCommandOptions): Promise<CommandResult>;
  close(): Promise<void>;
}
