import { CommandExitError, ConflictError, type Sandbox } from "@burrow/sdk";

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

/**
 * Hibernates, trying again while the server answers 409 because a connection from the host is
 * still closing (a documented, transient answer: "try again shortly"), as a client should.
 */
export async function hibernateWhenQuiet(sandbox: Sandbox, attempts = 5): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      await sandbox.hibernate();
      return;
    } catch (err) {
      if (!(err instanceof ConflictError) || i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
