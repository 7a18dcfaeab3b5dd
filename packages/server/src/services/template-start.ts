import { BurrowError, ErrorCode, errorMessage, type TemplateConfig } from "@burrow/core";
import type { AgentClient, AgentTarget } from "./agent-client.js";

/** How long create waits for a template's ready check unless the template says. */
export const DEFAULT_READY_TIMEOUT_MS = 60_000;
/** Pause between two ready checks. */
const READY_POLL_MS = 150;
/** One ready command may run this long. */
const READY_CMD_TIMEOUT_MS = 10_000;
/** Where the start command's output goes inside the sandbox (its own /tmp). */
export const START_LOG = "/tmp/burrow-start.log";
/** The tag of the start command's process (`commands.list()`, `commands.connect`). */
export const START_TAG = "burrow-start";

/** Whether sandboxes of this config run anything at create. */
export function hasStartCommands(config: TemplateConfig | undefined): config is TemplateConfig {
  return config !== undefined && Boolean(config.startCmd || config.readyCmd || config.readyPort);
}

/**
 * Runs a template's start command in a new sandbox and waits until its ready check passes: the
 * start command in the background (through the agent, as the template's user, in its workdir, its
 * output in START_LOG), then the ready check until the ready command exits 0 and/or the ready port
 * accepts inside the sandbox, every READY_POLL_MS. Fails with template_start_failed carrying the start
 * command's output and the last check's, when the start command exits first or time runs out.
 */
export async function startTemplateCommands(
  agents: AgentClient,
  target: AgentTarget,
  token: string,
  config: TemplateConfig,
): Promise<void> {
  const user = config.user ?? "root";
  const cwd = config.workdir;
  const timeoutMs = config.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  // The template's env explicitly: a warm-pool sandbox starts with no env of its own.
  const shell = (script: string) => ({
    cmd: "/bin/bash",
    args: ["-l", "-c", script],
    envs: config.env ?? {},
    user,
    ...(cwd ? { cwd } : {}),
  });
  let startPid: number | undefined;
  if (config.startCmd) {
    try {
      ({ pid: startPid } = await agents.runProcess(
        target,
        token,
        { ...shell(`exec >>${START_LOG} 2>&1; ${config.startCmd}`), tag: START_TAG },
        { detach: true, timeoutMs: 30_000 },
      ));
    } catch (err) {
      // E.g. the template's user or workdir does not exist in the image.
      throw new BurrowError(
        ErrorCode.TemplateStartFailed,
        `the template's start command could not be started: ${errorMessage(err)}`,
        { details: { startCmd: config.startCmd, user, workdir: cwd, last: "", output: "" } },
      );
    }
  }
  let last = "";
  for (;;) {
    if (config.readyCmd) {
      // A ready command that hangs or whose stream breaks is a failed check, not a failed create.
      const budget = Math.max(1_000, Math.min(READY_CMD_TIMEOUT_MS, deadline - Date.now()));
      const r = await agents
        .runProcess(target, token, shell(config.readyCmd), { detach: false, timeoutMs: budget })
        .catch((err: unknown) => ({ exitCode: undefined, output: `(${errorMessage(err)})` }));
      last = `ready command exited ${r.exitCode ?? "?"}${r.output ? `: ${r.output.trim().slice(-1000)}` : ""}`;
      if (r.exitCode === 0 && (!config.readyPort || (await portReady(agents, target, token, config.readyPort)))) return;
      if (r.exitCode === 0) last = `ready command passed; port ${config.readyPort} does not accept connections yet`;
    } else if (config.readyPort) {
      if (await portReady(agents, target, token, config.readyPort)) return;
      last = `port ${config.readyPort} does not accept connections yet`;
    } else {
      return; // a start command without a ready check: started is ready
    }
    const exited = startPid !== undefined && !(await running(agents, target, token, startPid));
    if (exited || Date.now() >= deadline) {
      const output = await startOutput(agents, target, token);
      throw new BurrowError(
        ErrorCode.TemplateStartFailed,
        exited
          ? `the template's start command exited before it was ready (${last})`
          : `the template's start command was not ready within ${timeoutMs} ms (${last})`,
        {
          details: { startCmd: config.startCmd, readyCmd: config.readyCmd, readyPort: config.readyPort, last, output },
        },
      );
    }
    await new Promise((r) => setTimeout(r, READY_POLL_MS));
  }
}

/** Connects to 127.0.0.1:$2, else to $1:$2 (the sandbox's own address), from inside the sandbox. */
const PORT_PROBE = '(exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null || (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null';

/**
 * Whether `port` accepts connections inside the sandbox, on 127.0.0.1 (a dev server often listens
 * on localhost only) or on the sandbox's address; probed through the agent, so nothing leaves it.
 */
async function portReady(agents: AgentClient, target: AgentTarget, token: string, port: number): Promise<boolean> {
  const r = await agents
    .runProcess(
      target,
      token,
      { cmd: "/bin/bash", args: ["-c", PORT_PROBE, "probe", target.host, String(port)], user: "root" },
      { detach: false, timeoutMs: READY_CMD_TIMEOUT_MS },
    )
    .catch(() => ({ exitCode: -1 }));
  return r.exitCode === 0;
}

/** Whether process `pid` still runs in the sandbox (the agent reaps it once it exits). */
async function running(agents: AgentClient, target: AgentTarget, token: string, pid: number): Promise<boolean> {
  const r = await agents
    .runProcess(
      target,
      token,
      { cmd: "/bin/sh", args: ["-c", `kill -0 ${pid} 2>/dev/null`], user: "root" },
      { detach: false, timeoutMs: READY_CMD_TIMEOUT_MS },
    )
    .catch(() => ({ exitCode: 0 })); // unknown: the deadline decides
  return r.exitCode === 0;
}

/** The end of the start command's output, for the error. */
async function startOutput(agents: AgentClient, target: AgentTarget, token: string): Promise<string> {
  const r = await agents
    .runProcess(
      target,
      token,
      { cmd: "/bin/sh", args: ["-c", `tail -c 2000 ${START_LOG} 2>/dev/null`], user: "root" },
      { detach: false, timeoutMs: READY_CMD_TIMEOUT_MS },
    )
    .catch(() => ({ output: "" }));
  return r.output ?? "";
}
