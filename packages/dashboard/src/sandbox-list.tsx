import { useEffect, useState } from "preact/hooks";
import { SandboxActions, StateBadge } from "./actions.js";
import { CreateSandbox } from "./create-sandbox.js";
import { age, labels, parseLabels } from "./format.js";
import type { LiveSandboxes } from "./use-live-sandboxes.js";

/** Every sandbox with its live state, filterable by metadata labels. */
export function SandboxList(props: { apiKey: string; live: LiveSandboxes }) {
  const [filter, setFilter] = useState("");
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    // Ages are relative: re-render them every 10 s (the states themselves come from the stream).
    const t = setInterval(() => setNow(Date.now()), 10_000);
    return () => clearInterval(t);
  }, []);

  const wanted = Object.entries(parseLabels(filter));
  const rows = [...props.live.sandboxes.values()]
    .filter((s) => wanted.every(([k, v]) => s.metadata[k] === v))
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt));

  return (
    <section>
      <div class="bar">
        <h1>Sandboxes</h1>
        <label class="filter">
          <span>Filter by metadata</span>
          <input
            type="search"
            placeholder="team=a, env=dev"
            value={filter}
            onInput={(e) => setFilter((e.target as HTMLInputElement).value)}
          />
        </label>
      </div>
      <CreateSandbox apiKey={props.apiKey} live={props.live} />
      <div class="table-wrap">
        <table class="sandboxes">
          <thead>
            <tr>
              <th scope="col">Sandbox</th>
              <th scope="col">State</th>
              <th scope="col">Template</th>
              <th scope="col">Age</th>
              <th scope="col">Last activity</th>
              <th scope="col">Resources</th>
              <th scope="col">Metadata</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {rows.length === 0 && (
              <tr>
                <td colSpan={8} class="empty">
                  No sandboxes{wanted.length > 0 ? " match the filter" : " yet"}.
                </td>
              </tr>
            )}
            {rows.map((s) => (
              <tr key={s.id} data-sandbox={s.id}>
                <td data-label="Sandbox">
                  <a href={`#/sandboxes/${encodeURIComponent(s.id)}`} class="mono">
                    {s.id}
                  </a>
                </td>
                <td data-label="State">
                  <StateBadge state={s.state} />
                </td>
                <td data-label="Template">{s.template}</td>
                <td data-label="Age">{age(s.createdAt, now)}</td>
                <td data-label="Last activity">{age(s.lastActivityAt, now)} ago</td>
                <td data-label="Resources">
                  {s.resources.vcpus} vCPU · {s.resources.memoryMb} MiB
                </td>
                <td class="mono" data-label="Metadata">
                  {labels(s.metadata)}
                </td>
                <td data-label="Actions">
                  <SandboxActions apiKey={props.apiKey} sandbox={s} live={props.live} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
