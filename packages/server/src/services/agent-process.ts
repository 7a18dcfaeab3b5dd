import { type IncomingMessage, request } from "node:http";
import { Readable } from "node:stream";
import {
  BurrowError,
  CONNECT_PROTOCOL_VERSION,
  CONNECT_PROTOCOL_VERSION_HEADER,
  CONNECT_STREAM_CONTENT_TYPE,
  ErrorCode,
  encodeEnvelope,
  ProcessMethod,
  type ProcessStartRequest,
  type ProcessStreamMessage,
  readConnectStream,
} from "@burrow/core";
import type { AgentTarget } from "./agent-client.js";

/** A process the server starts in a sandbox through its agent (as envd's Start does). */
export interface AgentProcessSpec {
  cmd: string;
  args: string[];
  envs?: Record<string, string>;
  cwd?: string;
  /** The user inside the sandbox it runs as. */
  user: string;
  /** A tag to find it by (`commands.list()` shows it). */
  tag?: string;
}

export interface AgentProcessResult {
  pid: number;
  /** Set when the call waited for the end. */
  exitCode?: number;
  /** stdout and stderr as they came, when the call waited for the end (the last 8 KiB). */
  output?: string;
}

const MAX_OUTPUT_CHARS = 8 * 1024;

/**
 * Starts a process through the agent's envd Start stream. With `detach` the call answers at the
 * start event and drops the stream (the process keeps running, as a background command whose
 * client disconnected does); otherwise it reads to the end and returns the exit code and output.
 */
export async function runAgentProcess(
  target: AgentTarget,
  token: string,
  spec: AgentProcessSpec,
  opts: { detach: boolean; timeoutMs: number },
): Promise<AgentProcessResult> {
  const startRequest: ProcessStartRequest = {
    process: { cmd: spec.cmd, args: spec.args, envs: spec.envs ?? {}, ...(spec.cwd ? { cwd: spec.cwd } : {}) },
    stdin: false,
    ...(spec.tag ? { tag: spec.tag } : {}),
  };
  // Its own connection, closed with the stream (agent: false): a connection to the sandbox left
  // idle in a pool would make the next checkpoint refuse ("open connections from the host").
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(
      {
        host: target.host,
        port: target.port,
        path: ProcessMethod.Start,
        method: "POST",
        agent: false,
        timeout: opts.timeoutMs,
        headers: {
          "Content-Type": CONNECT_STREAM_CONTENT_TYPE,
          [CONNECT_PROTOCOL_VERSION_HEADER]: CONNECT_PROTOCOL_VERSION,
          "X-Access-Token": token,
          Authorization: `Basic ${Buffer.from(`${spec.user}:`).toString("base64")}`,
          Connection: "close",
        },
      },
      resolve,
    );
    req.on("timeout", () => req.destroy(new BurrowError(ErrorCode.Timeout, `${spec.cmd} did not answer in time`)));
    req.on("error", reject);
    req.end(Buffer.from(encodeEnvelope(startRequest)));
  });
  const deadline = setTimeout(() => res.destroy(), opts.timeoutMs);
  try {
    if ((res.statusCode ?? 0) >= 300) {
      throw new BurrowError(
        ErrorCode.RuntimeFailed,
        `the sandbox agent refused to start ${spec.cmd} (${res.statusCode})`,
      );
    }
    return await readProcessStream(Readable.toWeb(res) as ReadableStream<Uint8Array>, spec, opts.detach);
  } finally {
    clearTimeout(deadline);
    res.destroy();
  }
}

async function readProcessStream(
  body: ReadableStream<Uint8Array>,
  spec: AgentProcessSpec,
  detach: boolean,
): Promise<AgentProcessResult> {
  let pid = 0;
  let output = "";
  for await (const message of readConnectStream(body)) {
    const event = (message as ProcessStreamMessage).event;
    if (event?.start) {
      pid = event.start.pid ?? 0;
      if (detach) return { pid }; // leaving the loop cancels the stream; the process runs on
    }
    const data = event?.data;
    if (data) {
      for (const chunk of [data.stdout, data.stderr]) {
        if (chunk) output = (output + Buffer.from(chunk, "base64").toString("utf8")).slice(-MAX_OUTPUT_CHARS);
      }
    }
    if (event?.end) return { pid, exitCode: event.end.exitCode ?? (event.end.exited ? 0 : -1), output };
  }
  throw new BurrowError(ErrorCode.SandboxUnreachable, `the stream of ${spec.cmd} ended without its end`);
}
