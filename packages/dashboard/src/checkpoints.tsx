import { type CheckpointInfo, type DiffResponse, Sandbox } from "@burrow/sdk";
import { useCallback, useEffect, useState } from "preact/hooks";
import { bytes } from "./format.js";
import { connection, message } from "./session.js";

interface Node {
  checkpoint: CheckpointInfo;
  children: Node[];
}

/** Checkpoints as a tree by parent; a checkpoint whose parent is gone becomes a root. */
function tree(list: CheckpointInfo[]): Node[] {
  const nodes = new Map(list.map((c) => [c.id, { checkpoint: c, children: [] as Node[] }]));
  const roots: Node[] = [];
  for (const node of nodes.values()) {
    const parent = node.checkpoint.parentId === null ? undefined : nodes.get(node.checkpoint.parentId);
    if (parent) parent.children.push(node);
    else roots.push(node);
  }
  return roots;
}

function nameOf(list: CheckpointInfo[], id: string): string {
  const c = list.find((x) => x.id === id);
  return c === undefined ? id : label(c);
}

function label(c: CheckpointInfo): string {
  return c.name ?? c.id;
}

/** The checkpoint tree with create/restore/fork/delete, and a diff between two nodes or a node and now. */
export function Checkpoints(props: { apiKey: string; sandboxId: string }) {
  const [list, setList] = useState<CheckpointInfo[]>([]);
  const [headId, setHeadId] = useState<string | null>(null);
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("now");
  const [diff, setDiff] = useState<DiffResponse | null>(null);
  const [unified, setUnified] = useState<{ path: string; text: string } | null>(null);

  const sandbox = useCallback(
    () => Sandbox.connect(props.sandboxId, connection(props.apiKey)),
    [props.apiKey, props.sandboxId],
  );

  const load = useCallback(async () => {
    const res = await (await sandbox()).checkpoints.list();
    setList(res.checkpoints);
    setHeadId(res.headId);
  }, [sandbox]);

  useEffect(() => {
    load().catch((err: unknown) => setError(message(err)));
  }, [load]);

  const act = async (what: () => Promise<string | undefined>) => {
    setBusy(true);
    setError(null);
    setNotice(null);
    try {
      const note = await what();
      if (note !== undefined) setNotice(note);
      await load();
    } catch (err) {
      setError(message(err));
    } finally {
      setBusy(false);
    }
  };

  const create = () =>
    act(async () => {
      const c = await (await sandbox()).checkpoints.create(name.trim() === "" ? {} : { name: name.trim() });
      setName("");
      return `checkpoint ${label(c)} taken`;
    });
  const restore = (c: CheckpointInfo) =>
    act(async () => {
      if (!window.confirm(`Restore ${label(c)}? Files changed since then are lost.`)) return undefined;
      await (await sandbox()).checkpoints.restore(c.id);
      return `restored ${label(c)}`;
    });
  const fork = (c: CheckpointInfo) =>
    act(async () => {
      const res = await (await sandbox()).checkpoints.fork(c.id);
      return `forked ${label(c)} into ${res.sandboxIds.join(", ")}`;
    });
  const remove = (c: CheckpointInfo) =>
    act(async () => {
      if (!window.confirm(`Delete checkpoint ${label(c)}?`)) return undefined;
      await (await sandbox()).checkpoints.delete(c.id);
      return `deleted ${label(c)}`;
    });

  const showDiff = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setUnified(null);
    try {
      setDiff(await (await sandbox()).checkpoints.diff(from, to));
    } catch (err) {
      setError(message(err));
    }
  };
  const showFile = async (path: string) => {
    if (diff === null) return;
    try {
      const res = await (await sandbox()).checkpoints.diff(diff.from, diff.to, { path });
      setUnified({ path, text: res.unified ?? "(no text diff: binary, or too large)" });
    } catch (err) {
      setError(message(err));
    }
  };

  const renderNode = (node: Node) => {
    const c = node.checkpoint;
    return (
      <li key={c.id} data-checkpoint={c.id} data-name={label(c)}>
        <div class="node">
          <strong>{label(c)}</strong>
          {c.id === headId && <span class="state state-running">head</span>}
          <span class="muted">
            {c.mode} · {c.status} · {bytes(c.sizeBytes)} · {new Date(c.createdAt).toLocaleTimeString()}
          </span>
          <span class="actions">
            <button type="button" disabled={busy} onClick={() => void restore(c)} aria-label={`Restore ${label(c)}`}>
              Restore
            </button>
            <button type="button" disabled={busy} onClick={() => void fork(c)} aria-label={`Fork ${label(c)}`}>
              Fork
            </button>
            <button
              type="button"
              class="danger"
              disabled={busy}
              onClick={() => void remove(c)}
              aria-label={`Delete ${label(c)}`}
            >
              Delete
            </button>
          </span>
        </div>
        {node.children.length > 0 && <ul>{node.children.map(renderNode)}</ul>}
      </li>
    );
  };

  const options = list.map((c) => (
    <option key={c.id} value={c.id}>
      {label(c)}
    </option>
  ));
  return (
    <section aria-labelledby="checkpoints-h">
      <div class="bar">
        <h2 id="checkpoints-h">Checkpoints</h2>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void create();
          }}
        >
          <input
            aria-label="Checkpoint name"
            placeholder="name (optional)"
            value={name}
            onInput={(e) => setName((e.target as HTMLInputElement).value)}
          />
          <button type="submit" disabled={busy}>
            Take checkpoint
          </button>
        </form>
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      {list.length === 0 ? (
        <p class="muted">No checkpoints yet.</p>
      ) : (
        <ul class="tree">{tree(list).map(renderNode)}</ul>
      )}
      {list.length > 0 && (
        <form class="diff-form" onSubmit={showDiff}>
          <label>
            From
            <select value={from} onChange={(e) => setFrom((e.target as HTMLSelectElement).value)} name="from">
              <option value="" disabled>
                choose…
              </option>
              {options}
            </select>
          </label>
          <label>
            To
            <select value={to} onChange={(e) => setTo((e.target as HTMLSelectElement).value)} name="to">
              <option value="now">now</option>
              {options}
            </select>
          </label>
          <button type="submit" disabled={from === ""}>
            Diff
          </button>
        </form>
      )}
      {diff && (
        <div class="diff" data-testid="diff">
          <p class="muted">
            {nameOf(list, diff.from)} → {nameOf(list, diff.to)}: {diff.entries.length} change
            {diff.entries.length === 1 ? "" : "s"}
          </p>
          {diff.entries.length === 0 && <p class="muted">No differences.</p>}
          <ul>
            {diff.entries.map((e) => (
              <li key={e.path} class={`change-${e.change}`}>
                <span class="change">{e.change}</span>{" "}
                {e.type === "file" ? (
                  <button type="button" class="link mono" onClick={() => void showFile(e.path)}>
                    {e.path}
                  </button>
                ) : (
                  <span class="mono">{e.path}</span>
                )}
              </li>
            ))}
          </ul>
          {unified && (
            <pre class="unified" data-testid="unified">
              {unified.text.split("\n").map((line, i) => (
                <span key={i} class={line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : ""}>
                  {line}
                  {"\n"}
                </span>
              ))}
            </pre>
          )}
        </div>
      )}
    </section>
  );
}
