/** What every command gets: its streams, signals and the connection flags. */
import type { ConnectionOptions } from "@burrow/sdk";
import type { CommandSpec, ParsedArgs } from "./args.js";

export interface CliOutput {
  write(chunk: string | Uint8Array): unknown;
  isTTY?: boolean;
  columns?: number;
  rows?: number;
}

export interface CliInput extends AsyncIterable<string | Uint8Array> {
  isTTY?: boolean;
  setRawMode?(raw: boolean): unknown;
  pause?(): unknown;
}

export type SignalName = "SIGINT" | "SIGTERM" | "SIGWINCH";

export interface CliIo {
  stdout: CliOutput;
  stderr: CliOutput;
  stdin: CliInput;
  /** Subscribes to a process signal (SIGWINCH: terminal resized); returns the unsubscribe. */
  onSignal(signal: SignalName, handler: () => void): () => void;
}

export interface Context {
  io: CliIo;
  /** From --api-url / --api-key; the SDK falls back to BURROW_* env vars and defaults. */
  connection: ConnectionOptions;
}

export interface Command {
  spec: CommandSpec;
  /** Returns the process exit code. */
  run(ctx: Context, args: ParsedArgs): Promise<number>;
}

export function print(out: CliOutput, text: string): void {
  out.write(text.endsWith("\n") ? text : `${text}\n`);
}

export function printJson(out: CliOutput, value: unknown): void {
  print(out, JSON.stringify(value, null, 2));
}
