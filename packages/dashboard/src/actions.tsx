import { Sandbox, type SandboxInfo } from "@burrow/sdk";
import { useState } from "preact/hooks";
import { connection, message } from "./session.js";
import { closeStreams } from "./stream-bus.js";
import type { LiveSandboxes } from "./use-live-sandboxes.js";

type Action = "pause" | "hibernate" | "resume" | "delete";

const SLEEPING = new Set(["standby", "hibernated"]);

/** Pause / hibernate / wake / delete buttons for one sandbox; delete asks first. */
export function SandboxActions(props: {
  apiKey: string;
  sandbox: SandboxInfo;
  live: LiveSandboxes;
  onDeleted?: () => void;
}) {
  const { sandbox } = props;
  const [busy, setBusy] = useState<Action | null>(null);
  const [error, setError] = useState<string | null>(null);

  const run = async (action: Action) => {
    if (action === "delete" && !window.confirm(`Delete sandbox ${sandbox.id} and all its files?`)) return;
    setBusy(action);
    setError(null);
    try {
      const sb = await Sandbox.connect(sandbox.id, connection(props.apiKey));
      if (action === "hibernate" || action === "delete") await closeStreams(sandbox.id);
      if (action === "delete") {
        await sb.kill();
        props.onDeleted?.();
      } else {
        const info =
          action === "pause" ? await sb.pause() : action === "hibernate" ? await sb.hibernate() : await sb.resume();
        props.live.put(info);
      }
    } catch (err) {
      setError(message(err));
    } finally {
      setBusy(null);
    }
  };

  const button = (action: Action, label: string, enabled: boolean) => (
    <button
      type="button"
      class={action === "delete" ? "danger" : ""}
      disabled={busy !== null || !enabled}
      aria-label={`${label} ${sandbox.id}`}
      onClick={() => void run(action)}
    >
      {busy === action ? `${label}…` : label}
    </button>
  );
  return (
    <span class="actions">
      {button("pause", "Pause", sandbox.state === "running")}
      {button("hibernate", "Hibernate", sandbox.state === "running" || sandbox.state === "standby")}
      {button("resume", "Wake", SLEEPING.has(sandbox.state) || sandbox.state === "error")}
      {button("delete", "Delete", true)}
      {error && (
        <span class="error" role="alert">
          {error}
        </span>
      )}
    </span>
  );
}

export function StateBadge(props: { state: string }) {
  return (
    <span class={`state state-${props.state}`} data-state={props.state}>
      {props.state}
    </span>
  );
}
