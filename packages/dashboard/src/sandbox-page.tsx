import { SandboxActions, StateBadge } from "./actions.js";
import { Checkpoints } from "./checkpoints.js";
import { Events } from "./events.js";
import { Files } from "./files.js";
import { labels } from "./format.js";
import { Terminal } from "./terminal.js";
import type { LiveSandboxes } from "./use-live-sandboxes.js";

/** One sandbox: live state and actions, terminal, files, checkpoints with diffs, events. */
export function SandboxPage(props: { apiKey: string; sandboxId: string; live: LiveSandboxes }) {
  const sandbox = props.live.sandboxes.get(props.sandboxId);
  if (sandbox === undefined) {
    return (
      <section>
        <p>
          <a href="#/">← Sandboxes</a>
        </p>
        <p class="muted">Sandbox {props.sandboxId} is not (or no longer) listed.</p>
      </section>
    );
  }
  return (
    <div class="sandbox-page">
      <p>
        <a href="#/">← Sandboxes</a>
      </p>
      <div class="bar">
        <h1 class="mono">{sandbox.id}</h1>
        <StateBadge state={sandbox.state} />
        <SandboxActions
          apiKey={props.apiKey}
          sandbox={sandbox}
          live={props.live}
          onDeleted={() => {
            window.location.hash = "#/";
          }}
        />
      </div>
      <p class="muted">
        {sandbox.template} · {sandbox.resources.vcpus} vCPU · {sandbox.resources.memoryMb} MiB ·{" "}
        {labels(sandbox.metadata) || "no metadata"}
        {sandbox.error ? ` · error: ${sandbox.error}` : ""}
      </p>
      <Terminal apiKey={props.apiKey} sandboxId={sandbox.id} />
      <Files apiKey={props.apiKey} sandboxId={sandbox.id} />
      <Checkpoints apiKey={props.apiKey} sandboxId={sandbox.id} />
      <Events apiKey={props.apiKey} sandboxId={sandbox.id} live={props.live} />
    </div>
  );
}
