import { Sandbox, type SandboxEvent } from "@burrow/sdk";
import { useEffect, useState } from "preact/hooks";
import { connection, message } from "./session.js";
import type { LiveSandboxes } from "./use-live-sandboxes.js";

/** The sandbox's lifecycle events, newest first: stored ones, then each new one from the stream. */
export function Events(props: { apiKey: string; sandboxId: string; live: LiveSandboxes }) {
  const [events, setEvents] = useState<SandboxEvent[]>([]);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let stopped = false;
    const seen = new Set<number>();
    const add = (list: SandboxEvent[]) =>
      setEvents((old) => {
        const fresh = list.filter((e) => !seen.has(e.id));
        for (const e of fresh) seen.add(e.id);
        return [...old, ...fresh].sort((a, b) => a.id - b.id);
      });
    const unsubscribe = props.live.onEvent((e) => {
      if (e.sandboxId === props.sandboxId) add([e]);
    });
    Sandbox.connect(props.sandboxId, connection(props.apiKey))
      .then((sb) => sb.events())
      .then((list) => {
        if (!stopped) add(list);
      })
      .catch((err: unknown) => setError(message(err)));
    return () => {
      stopped = true;
      unsubscribe();
    };
  }, [props.apiKey, props.sandboxId, props.live.onEvent]);

  return (
    <section aria-labelledby="events-h">
      <h2 id="events-h">Events</h2>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <ol class="timeline" data-testid="events">
        {[...events].reverse().map((e) => (
          <li key={e.id}>
            <time dateTime={e.at}>{new Date(e.at).toLocaleTimeString()}</time>
            <strong>{e.type}</strong>
            {e.from && e.to && (
              <span class="muted">
                {" "}
                {e.from} → {e.to}
              </span>
            )}
            {e.durationMs !== undefined && <span class="muted"> in {e.durationMs} ms</span>}
            <span class="reason"> — {e.reason}</span>
          </li>
        ))}
      </ol>
    </section>
  );
}
