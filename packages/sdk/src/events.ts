/** The server's live event stream (`GET /v1/events`), read over fetch so it works in browsers and Node. */
import type { SandboxEvent, SandboxInfo } from "@burrow/core";
import { type ConnectionOptions, resolveConfig } from "./config.js";
import { ApiClient, type RequestOptions } from "./http.js";

/** One lifecycle event and the sandbox as it is after it (null once deleted). */
export interface SandboxEventMessage {
  event: SandboxEvent;
  sandbox: SandboxInfo | null;
}

export interface WatchEventsOptions extends ConnectionOptions, Pick<RequestOptions, "requestTimeoutMs"> {
  /** Ends the stream. */
  signal?: AbortSignal;
  /** Called with each message, in order. */
  onMessage: (message: SandboxEventMessage) => void;
  /** Called once the server has accepted the stream (before any message). */
  onOpen?: () => void;
}

/**
 * Follows every sandbox's lifecycle events as they are recorded. Resolves when the server ends the
 * stream or `signal` aborts; rejects with the translated error when the server refuses it (a wrong
 * key is an AuthenticationError) or the connection breaks. The request deadline covers only the wait
 * for the server's answer.
 */
export async function watchEvents(opts: WatchEventsOptions): Promise<void> {
  const api = new ApiClient(await resolveConfig(opts));
  const scope = api.scope(opts, "opening the event stream");
  try {
    const res = await api.send({ method: "GET", path: "/v1/events", headers: { Accept: "text/event-stream" } }, scope);
    scope.clearDeadline();
    opts.onOpen?.();
    const body = res.body;
    if (body === null) return;
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += value;
      let end = buffer.indexOf("\n\n");
      while (end >= 0) {
        const message = parseMessage(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (message !== undefined) opts.onMessage(message);
        end = buffer.indexOf("\n\n");
      }
    }
  } catch (err) {
    if (opts.signal?.aborted === true) return;
    throw scope.reasonFor(err);
  } finally {
    scope.dispose();
  }
}

/** The `data:` of a `sandbox` message; comments and other events give undefined. */
export function parseMessage(block: string): SandboxEventMessage | undefined {
  let event = "message";
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
  }
  if (event !== "sandbox" || data.length === 0) return undefined;
  return JSON.parse(data.join("\n")) as SandboxEventMessage;
}
