/** `burrow exec`: run a command in a sandbox, streaming its output, exiting with its code. */
import { CommandExitError, type CommandHandle, Sandbox } from "@burrow/sdk";
import { intOption, keyValues, listOption, shellJoin, stringOption, UsageError } from "../args.js";
import type { Command, Context } from "../context.js";

export const exec: Command = {
  spec: {
    name: "exec",
    summary: "Run a command in a sandbox",
    positionals: [
      { name: "id", required: true },
      { name: "cmd", required: false, variadic: true },
    ],
    rest: "cmd...",
    options: [
      { name: "cwd", short: "w", type: "string", value: "DIR", description: "working directory" },
      { name: "env", short: "e", type: "list", value: "K=V", description: "environment variable (repeatable)" },
      { name: "user", short: "u", type: "string", value: "USER", description: "user to run as" },
      { name: "timeout-ms", type: "string", value: "MS", description: "kill the command after MS (default: none)" },
    ],
    examples: ["burrow exec sb_x -- ls -la /tmp", "burrow exec sb_x -- bash -c 'echo $HOME | wc -c'"],
  },
  async run(ctx, args) {
    const [id, ...words] = args.positionals as [string, ...string[]];
    const argv = [...words, ...args.rest];
    if (argv.length === 0) throw new UsageError("missing the command to run (after --)", "exec");
    const envs = keyValues(listOption(args, "env"), "env", "exec");
    const cwd = stringOption(args, "cwd");
    const user = stringOption(args, "user");
    const forwardStdin = ctx.io.stdin.isTTY !== true;
    const sandbox = await Sandbox.connect(id, ctx.connection);
    const handle = await sandbox.commands.run(shellJoin(argv), {
      background: true,
      envs,
      stdin: forwardStdin,
      timeoutMs: intOption(args, "timeout-ms", "exec") ?? 0,
      ...(cwd === undefined ? {} : { cwd }),
      ...(user === undefined ? {} : { user }),
      onStdout: (data) => {
        ctx.io.stdout.write(data);
      },
      onStderr: (data) => {
        ctx.io.stderr.write(data);
      },
    });
    return waitForExit(ctx, handle, forwardStdin);
  },
};

async function waitForExit(ctx: Context, handle: CommandHandle, forwardStdin: boolean): Promise<number> {
  let interrupted = false;
  // The first Ctrl-C kills the remote command; unsubscribing lets a second one end the CLI at once.
  const off = ctx.io.onSignal("SIGINT", () => {
    interrupted = true;
    off();
    void handle.kill().catch(() => false);
  });
  if (forwardStdin) void pipeStdin(ctx, handle);
  try {
    await handle.wait();
    return 0;
  } catch (err) {
    if (interrupted) return 130;
    if (err instanceof CommandExitError) return err.exitCode >= 0 && err.exitCode < 256 ? err.exitCode : 1;
    throw err;
  } finally {
    off();
    ctx.io.stdin.pause?.();
  }
}

/** Copies local stdin to the command's stdin, then closes it. */
async function pipeStdin(ctx: Context, handle: CommandHandle): Promise<void> {
  try {
    for await (const chunk of ctx.io.stdin) {
      if (handle.exitCode !== undefined) return;
      await handle.sendStdin(chunk);
    }
    if (handle.exitCode === undefined) await handle.closeStdin();
  } catch {
    // The command may have exited while its input was still arriving; its result tells the rest.
  }
}
