/** `burrow shell`: an interactive terminal in a sandbox. */
import { CommandExitError, Sandbox } from "@burrow/sdk";
import { stringOption } from "../args.js";
import type { Command, Context } from "../context.js";

const CTRL_D = new Uint8Array([4]);

export const shell: Command = {
  spec: {
    name: "shell",
    summary: "Open an interactive shell in a sandbox",
    positionals: [{ name: "id", required: true }],
    options: [
      { name: "cwd", short: "w", type: "string", value: "DIR", description: "working directory" },
      { name: "user", short: "u", type: "string", value: "USER", description: "user to log in as" },
    ],
  },
  async run(ctx, args) {
    const { stdin, stdout } = ctx.io;
    const sandbox = await Sandbox.connect(args.positionals[0] as string, ctx.connection);
    const size = () => ({ cols: stdout.columns ?? 80, rows: stdout.rows ?? 24 });
    const cwd = stringOption(args, "cwd");
    const user = stringOption(args, "user");
    const terminal = await sandbox.pty.create({
      ...size(),
      timeoutMs: 0,
      onData: (data) => {
        stdout.write(data);
      },
      ...(cwd === undefined ? {} : { cwd }),
      ...(user === undefined ? {} : { user }),
    });
    const raw = stdin.isTTY === true && stdin.setRawMode !== undefined;
    const offResize = ctx.io.onSignal("SIGWINCH", () => {
      void sandbox.pty.resize(terminal.pid, size()).catch(() => {});
    });
    if (raw) stdin.setRawMode?.(true);
    try {
      void forwardInput(
        ctx,
        (data) => terminal.sendStdin(data),
        () => terminal.exitCode !== undefined,
      );
      await terminal.wait();
      return 0;
    } catch (err) {
      if (err instanceof CommandExitError) return err.exitCode >= 0 && err.exitCode < 256 ? err.exitCode : 1;
      throw err;
    } finally {
      offResize();
      if (raw) stdin.setRawMode?.(false);
      stdin.pause?.();
    }
  },
};

/**
 * Sends keystrokes (or piped input) to the terminal one write at a time, so they arrive in
 * order; when piped input ends, sends Ctrl-D so the shell exits.
 */
async function forwardInput(
  ctx: Context,
  send: (data: Uint8Array | string) => Promise<void>,
  exited: () => boolean,
): Promise<void> {
  try {
    for await (const chunk of ctx.io.stdin) {
      if (exited()) return;
      await send(chunk);
    }
    if (!exited()) await send(CTRL_D);
  } catch {
    // The shell has ended; there is nobody left to type to.
  }
}
