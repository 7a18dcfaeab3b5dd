/** Command tools: run to completion, or start in the background, read its output, and stop it. */
import { CommandExitError, type CommandStartOptions, TimeoutError } from "@burrow/sdk";
import { z } from "zod";
import { toolError } from "../errors.js";
import { resolveSandboxPath, SANDBOX_HOME } from "../paths.js";
import type { OutputRead } from "../processes.js";
import { jsonResult, textResult } from "../results.js";
import { HeadTailBuffer, MAX_OUTPUT_CHARS } from "../truncate.js";
import { defineTool, type ToolGroup } from "./registry.js";
import { sandboxIdSchema } from "./sandboxes.js";

export const DEFAULT_RUN_TIMEOUT_MS = 60_000;
const MAX_RUN_TIMEOUT_MS = 60 * 60_000;
export const DEFAULT_READ_WAIT_MS = 1_000;
const MAX_READ_WAIT_MS = 60_000;

const pidSchema = z.number().int().positive().describe("Process id returned by start_background_command");

/** Arguments shared by run_command and start_background_command. */
const commandShape = {
  sandboxId: sandboxIdSchema,
  cmd: z
    .string()
    .min(1)
    .describe("Shell command, run with `bash -l -c`: pipes, &&, redirections and quoting work as in a terminal"),
  cwd: z
    .string()
    .optional()
    .describe(`Working directory, absolute or relative to ${SANDBOX_HOME}; default ${SANDBOX_HOME}`),
  env: z.record(z.string(), z.string()).optional().describe("Extra environment variables for this command"),
  user: z.string().min(1).optional().describe("Linux user to run as; default 'user' (use 'root' to install packages)"),
};

type CommandArgs = { cwd?: string | undefined; env?: Record<string, string> | undefined; user?: string | undefined };

function startOptions(args: CommandArgs): CommandStartOptions {
  const opts: CommandStartOptions = {};
  if (args.cwd !== undefined) opts.cwd = resolveSandboxPath(args.cwd);
  if (args.env !== undefined) opts.envs = args.env;
  if (args.user !== undefined) opts.user = args.user;
  return opts;
}

/** The text a model reads for command output: exit status, then each stream under a header. */
export function formatOutput(head: string, stdout: string, stderr: string): string {
  const section = (name: string, text: string) =>
    text === "" ? `--- ${name}: (empty) ---` : `--- ${name} ---\n${text}`;
  return `${head}\n${section("stdout", stdout)}\n${section("stderr", stderr)}`;
}

const runCommand = defineTool({
  name: "run_command",
  title: "Run command",
  description:
    "Run a shell command in a sandbox and wait for it to finish. Returns its exit code, stdout and stderr; a non-zero " +
    `exit code is a normal result, not a failure of this tool. Each stream is capped at ${MAX_OUTPUT_CHARS} ` +
    "characters: past that the start and the end are kept around a '[... N characters truncated ...]' marker. " +
    `The command is killed after timeoutMs (default ${DEFAULT_RUN_TIMEOUT_MS / 1000} s); for servers, watchers or ` +
    "long builds use start_background_command instead. stdin is closed.",
  inputSchema: {
    ...commandShape,
    timeoutMs: z
      .number()
      .int()
      .positive()
      .max(MAX_RUN_TIMEOUT_MS)
      .optional()
      .describe(`Kill the command after this many milliseconds; default ${DEFAULT_RUN_TIMEOUT_MS}`),
  },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  async run(args, session, signal) {
    const sandbox = await session.sandbox(args.sandboxId, signal);
    const stdout = new HeadTailBuffer(MAX_OUTPUT_CHARS);
    const stderr = new HeadTailBuffer(MAX_OUTPUT_CHARS);
    const handle = await sandbox.commands.run(args.cmd, {
      ...startOptions(args),
      background: true,
      signal,
      timeoutMs: args.timeoutMs ?? DEFAULT_RUN_TIMEOUT_MS,
      // Output is kept by the head-and-tail buffers; the handle's own copy is not needed.
      maxOutputBytes: 1024,
      onStdout: (text) => stdout.push(text),
      onStderr: (text) => stderr.push(text),
    });
    let exitCode = 0;
    let error: string | undefined;
    try {
      await handle.wait();
    } catch (err) {
      if (err instanceof TimeoutError) {
        return toolError(err, formatOutput("Output before it was killed:", stdout.take(), stderr.take()));
      }
      if (!(err instanceof CommandExitError)) throw err;
      exitCode = err.exitCode;
      error = err.error;
    }
    const out = stdout.take();
    const errText = stderr.take();
    const head = `exit code: ${exitCode}${error === undefined ? "" : ` (${error})`}`;
    return textResult(formatOutput(head, out, errText), {
      exitCode,
      stdout: out,
      stderr: errText,
      ...(error === undefined ? {} : { error }),
    });
  },
});

const startBackground = defineTool({
  name: "start_background_command",
  title: "Start background command",
  description:
    "Start a shell command in a sandbox without waiting for it (servers, watchers, long builds or tests). Returns its " +
    "pid at once. Follow it with read_command_output (each call returns only output not returned before) and end " +
    "it with stop_command. The process keeps running after this session ends.",
  inputSchema: {
    ...commandShape,
    timeoutMs: z
      .number()
      .int()
      .positive()
      .optional()
      .describe("Kill the process after this many milliseconds; default: no limit"),
  },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  async run(args, session, signal) {
    const sandbox = await session.sandbox(args.sandboxId, signal);
    const opts = startOptions(args);
    const follower = await session.processes.start(sandbox.sandboxId, (callbacks) =>
      // No signal: the process outlives this request.
      sandbox.commands.run(args.cmd, { ...opts, ...callbacks, background: true, timeoutMs: args.timeoutMs ?? 0 }),
    );
    return jsonResult({ sandboxId: sandbox.sandboxId, pid: follower.pid, state: "running" });
  },
});

function formatRead(read: OutputRead): string {
  let head: string;
  if (read.state === "exited") {
    head = `process ${read.pid} exited with code ${read.exitCode ?? "unknown"}${read.error === undefined ? "" : ` (${read.error})`}`;
  } else if (read.state === "disconnected") {
    head = `process ${read.pid}: lost its output stream (${read.error ?? "unknown reason"}); read again to reconnect`;
  } else {
    head = `process ${read.pid} is running`;
  }
  return formatOutput(`${head}. New output since the last read:`, read.stdout, read.stderr);
}

const readOutput = defineTool({
  name: "read_command_output",
  title: "Read background command output",
  description:
    "Return the output a background command produced since the last read_command_output for it (the first call " +
    "returns everything still buffered), plus whether it is still running and its exit code once it exited. When " +
    "there is no new output yet, waits up to waitMs for some. Each stream is capped at " +
    `${MAX_OUTPUT_CHARS} characters per call (start and end kept around a truncation marker).`,
  inputSchema: {
    sandboxId: sandboxIdSchema,
    pid: pidSchema,
    waitMs: z
      .number()
      .int()
      .min(0)
      .max(MAX_READ_WAIT_MS)
      .optional()
      .describe(`How long to wait for new output when there is none; default ${DEFAULT_READ_WAIT_MS}, 0 to not wait`),
  },
  annotations: { readOnlyHint: true, openWorldHint: false },
  async run(args, session, signal) {
    const sandbox = await session.sandbox(args.sandboxId, signal);
    const follower = await session.processes.follow(sandbox, args.pid);
    const read = await follower.read(args.waitMs ?? DEFAULT_READ_WAIT_MS, signal);
    return textResult(formatRead(read), { ...read, running: read.state === "running" });
  },
});

const stopCommand = defineTool({
  name: "stop_command",
  title: "Stop background command",
  description:
    "Kill a background command (SIGKILL to its process group). Returns stopped: false when it had already exited. " +
    "Its remaining output can still be read with read_command_output.",
  inputSchema: { sandboxId: sandboxIdSchema, pid: pidSchema },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  async run(args, session, signal) {
    const sandbox = await session.sandbox(args.sandboxId, signal);
    const stopped = await sandbox.commands.kill(args.pid, { signal });
    return jsonResult({ sandboxId: sandbox.sandboxId, pid: args.pid, stopped });
  },
});

export const commandTools: ToolGroup = [runCommand, startBackground, readOutput, stopCommand];
