import { Sandbox, type SandboxEvent, type SandboxInfo, watchEvents } from "@burrow/sdk";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { connection, message } from "./session.js";

export interface LiveSandboxes {
  /** Every sandbox by id, as of the latest event. */
  sandboxes: Map<string, SandboxInfo>;
  /** True while the event stream is open. */
  connected: boolean;
  error: string | null;
  /** Calls `listener` with each event from the stream; returns the unsubscribe function. */
  onEvent: (listener: (event: SandboxEvent) => void) => () => void;
  /** Reads the list again (after an action whose result the caller already has). */
  reload: () => Promise<void>;
  /** Puts a sandbox the caller just got from the API into the map. */
  put: (info: SandboxInfo) => void;
}

const RECONNECT_MS = 2_000;

/**
 * The sandbox list, kept current by the server's event stream (`GET /v1/events`): the list is
 * read once per connection, then each event carries the sandbox's new state. Reconnects after a
 * break; no polling.
 */
export function useLiveSandboxes(apiKey: string): LiveSandboxes {
  const [sandboxes, setSandboxes] = useState(new Map<string, SandboxInfo>());
  const [connected, setConnected] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const listeners = useRef(new Set<(event: SandboxEvent) => void>());

  const reload = useCallback(async () => {
    const list = await Sandbox.list(connection(apiKey));
    setSandboxes(new Map(list.map((s) => [s.id, s])));
  }, [apiKey]);

  const put = useCallback((info: SandboxInfo) => {
    setSandboxes((old) => new Map(old).set(info.id, info));
  }, []);

  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        await watchEvents({
          ...connection(apiKey),
          signal: controller.signal,
          onOpen: () => {
            setConnected(true);
            setError(null);
            reload().catch((err: unknown) => setError(message(err)));
          },
          onMessage: ({ event, sandbox }) => {
            setSandboxes((old) => {
              const next = new Map(old);
              if (sandbox === null) next.delete(event.sandboxId);
              else next.set(sandbox.id, sandbox);
              return next;
            });
            for (const listener of listeners.current) listener(event);
          },
        });
      } catch (err) {
        if (!controller.signal.aborted) setError(`event stream: ${message(err)}`);
      }
      setConnected(false);
      if (!controller.signal.aborted) timer = setTimeout(run, RECONNECT_MS);
    };
    void run();
    return () => {
      controller.abort();
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [apiKey, reload]);

  const onEvent = useCallback((listener: (event: SandboxEvent) => void) => {
    listeners.current.add(listener);
    return () => {
      listeners.current.delete(listener);
    };
  }, []);

  return { sandboxes, connected, error, onEvent, reload, put };
}
