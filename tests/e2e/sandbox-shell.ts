import { CommandExitError, type Sandbox } from "@burrow/sdk";

/** Runs a shell command in the sandbox; a non-zero exit is a result, not an error. */
export async function sh(sandbox: Sandbox, cmd: string): Promise<{ exitCode: number; stdout: string }> {
  try {
    const r = await sandbox.commands.run(cmd, { timeoutMs: 30_000 });
    return { exitCode: r.exitCode, stdout: r.stdout };
  } catch (err) {
    if (err instanceof CommandExitError) return { exitCode: err.exitCode, stdout: err.stdout };
    throw err;
  }
}
