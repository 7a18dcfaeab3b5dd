import { type BeforeHibernateHook, errorMessage } from "@burrow/core";
import type { AgentClient, AgentTarget } from "./agent-client.js";

/** A hook's time unless it names one. */
export const DEFAULT_HOOK_TIMEOUT_MS = 30_000;
/** How much of the hook's output its event keeps (the end). */
const OUTPUT_TAIL_CHARS = 2_048;

/**
 * Runs a sandbox's before-hibernate command through its agent (`bash -l -c`, as its user) and
 * describes how it went, for the `before_hibernate` event: exit code and the tail of its output,
 * or why it did not finish. Never throws: hibernation goes on whatever the hook does.
 */
export async function runBeforeHibernate(
  agents: AgentClient,
  target: AgentTarget,
  token: string,
  hook: BeforeHibernateHook,
): Promise<{ reason: string; durationMs: number }> {
  const started = performance.now();
  const timeoutMs = hook.timeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS;
  let reason: string;
  try {
    const result = await agents.runProcess(
      target,
      token,
      { cmd: "/bin/bash", args: ["-l", "-c", hook.command], user: hook.user ?? "user", tag: "burrow-before-hibernate" },
      { detach: false, timeoutMs },
    );
    const output = (result.output ?? "").slice(-OUTPUT_TAIL_CHARS).trimEnd();
    reason = `before-hibernate command exited ${result.exitCode ?? "?"}${output ? `; output:\n${output}` : ""}`;
  } catch (err) {
    reason = `before-hibernate command did not finish within ${timeoutMs} ms (${errorMessage(err)}); hibernating anyway`;
  }
  return { reason, durationMs: performance.now() - started };
}
