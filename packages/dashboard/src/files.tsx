import { type EntryInfo, Sandbox } from "@burrow/sdk";
import { useCallback, useEffect, useState } from "preact/hooks";
import { bytes } from "./format.js";
import { connection, message } from "./session.js";

const MAX_VIEW_BYTES = 512 * 1024;

function parentOf(path: string): string {
  const i = path.replace(/\/+$/, "").lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

function join(dir: string, name: string): string {
  return dir.endsWith("/") ? `${dir}${name}` : `${dir}/${name}`;
}

/** Browse a directory, view a text file, upload (picker or drop) and download files. */
export function Files(props: { apiKey: string; sandboxId: string }) {
  const [dir, setDir] = useState("/home/user");
  const [pathInput, setPathInput] = useState("/home/user");
  const [entries, setEntries] = useState<EntryInfo[]>([]);
  const [viewing, setViewing] = useState<{ path: string; text: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [dragging, setDragging] = useState(false);

  const sandbox = useCallback(
    () => Sandbox.connect(props.sandboxId, connection(props.apiKey)),
    [props.apiKey, props.sandboxId],
  );

  const load = useCallback(
    async (path: string) => {
      setError(null);
      try {
        const list = await (await sandbox()).files.list(path);
        list.sort((a, b) => (a.type === b.type ? a.name.localeCompare(b.name) : a.type === "dir" ? -1 : 1));
        setEntries(list);
        setDir(path);
        setPathInput(path);
      } catch (err) {
        setError(message(err));
      }
    },
    [sandbox],
  );

  useEffect(() => {
    void load("/home/user");
  }, [load]);

  const view = async (entry: EntryInfo) => {
    setError(null);
    if (entry.size > MAX_VIEW_BYTES) return setError(`${entry.name} is larger than 512 KiB; download it instead`);
    try {
      setViewing({ path: entry.path, text: await (await sandbox()).files.read(entry.path) });
    } catch (err) {
      setError(message(err));
    }
  };

  const download = async (entry: EntryInfo) => {
    try {
      const blob = await (await sandbox()).files.read(entry.path, { format: "blob" });
      const url = URL.createObjectURL(blob);
      const a = document.createElement("a");
      a.href = url;
      a.download = entry.name;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      setError(message(err));
    }
  };

  const upload = async (files: FileList | null) => {
    if (files === null || files.length === 0) return;
    setError(null);
    try {
      const sb = await sandbox();
      for (const file of Array.from(files)) await sb.files.write(join(dir, file.name), await file.arrayBuffer());
      await load(dir);
    } catch (err) {
      setError(message(err));
    }
  };

  return (
    <section
      aria-labelledby="files-h"
      class={dragging ? "files dragging" : "files"}
      onDragOver={(e) => {
        e.preventDefault();
        setDragging(true);
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={(e) => {
        e.preventDefault();
        setDragging(false);
        void upload(e.dataTransfer?.files ?? null);
      }}
    >
      <div class="bar">
        <h2 id="files-h">Files</h2>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void load(pathInput);
          }}
        >
          <input
            aria-label="Directory"
            value={pathInput}
            onInput={(e) => setPathInput((e.target as HTMLInputElement).value)}
          />
          <button type="submit">Open</button>
        </form>
        <label class="upload">
          Upload{" "}
          <input
            type="file"
            multiple
            data-testid="upload"
            onChange={(e) => void upload((e.target as HTMLInputElement).files)}
          />
        </label>
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <ul class="entries" data-testid="entries">
        {dir !== "/" && (
          <li>
            <button type="button" class="link" onClick={() => void load(parentOf(dir))}>
              ..
            </button>
          </li>
        )}
        {entries.map((e) => (
          <li key={e.path} data-name={e.name}>
            {e.type === "dir" ? (
              <button type="button" class="link" onClick={() => void load(e.path)}>
                {e.name}/
              </button>
            ) : (
              <>
                <button type="button" class="link" onClick={() => void view(e)}>
                  {e.name}
                </button>
                <span class="muted">{bytes(e.size)}</span>
                <button type="button" class="push" aria-label={`Download ${e.name}`} onClick={() => void download(e)}>
                  Download
                </button>
              </>
            )}
          </li>
        ))}
      </ul>
      {viewing && (
        <div class="viewer">
          <div class="bar">
            <h3 class="mono">{viewing.path}</h3>
            <button type="button" onClick={() => setViewing(null)}>
              Close
            </button>
          </div>
          <pre>{viewing.text}</pre>
        </div>
      )}
    </section>
  );
}
