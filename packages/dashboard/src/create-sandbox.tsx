import { Sandbox, type SandboxCreateOptions } from "@burrow/sdk";
import { useState } from "preact/hooks";
import { parseLabels } from "./format.js";
import { connection, message } from "./session.js";
import type { LiveSandboxes } from "./use-live-sandboxes.js";

interface Form {
  template: string;
  vcpus: string;
  memoryMb: string;
  standbyAfterS: string;
  hibernateAfterS: string;
  metadata: string;
  egress: "allow" | "deny";
}

const INITIAL: Form = {
  template: "base",
  vcpus: "",
  memoryMb: "",
  standbyAfterS: "",
  hibernateAfterS: "",
  metadata: "",
  egress: "allow",
};

/** The create form: template, resources, sleep policy, metadata, default egress. */
export function CreateSandbox(props: { apiKey: string; live: LiveSandboxes }) {
  const [form, setForm] = useState<Form>(INITIAL);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const set = (field: keyof Form) => (e: Event) =>
    setForm({ ...form, [field]: (e.target as HTMLInputElement | HTMLSelectElement).value });

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const opts: SandboxCreateOptions = { ...connection(props.apiKey), template: form.template.trim() || "base" };
      const resources: { vcpus?: number; memoryMb?: number } = {};
      if (form.vcpus !== "") resources.vcpus = Number(form.vcpus);
      if (form.memoryMb !== "") resources.memoryMb = Number(form.memoryMb);
      if (Object.keys(resources).length > 0) opts.resources = resources;
      const lifecycle: { standbyAfterMs?: number; hibernateAfterMs?: number } = {};
      if (form.standbyAfterS !== "") lifecycle.standbyAfterMs = Number(form.standbyAfterS) * 1000;
      if (form.hibernateAfterS !== "") lifecycle.hibernateAfterMs = Number(form.hibernateAfterS) * 1000;
      if (Object.keys(lifecycle).length > 0) opts.lifecycle = lifecycle;
      const metadata = parseLabels(form.metadata);
      if (Object.keys(metadata).length > 0) opts.metadata = metadata;
      if (form.egress === "deny") opts.egress = { default: "deny" };
      const sb = await Sandbox.create(opts);
      props.live.put(await sb.getInfo());
      setForm(INITIAL);
    } catch (err) {
      setError(message(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <details class="create">
      <summary>New sandbox</summary>
      <form onSubmit={submit} class="grid">
        <label>
          Template <input value={form.template} onInput={set("template")} name="template" />
        </label>
        <label>
          vCPUs <input type="number" min="0.1" step="0.1" value={form.vcpus} onInput={set("vcpus")} />
        </label>
        <label>
          Memory (MiB) <input type="number" min="64" step="1" value={form.memoryMb} onInput={set("memoryMb")} />
        </label>
        <label>
          Standby after (s, 0 = never)
          <input type="number" min="0" value={form.standbyAfterS} onInput={set("standbyAfterS")} />
        </label>
        <label>
          Hibernate after (s in standby)
          <input type="number" min="0" value={form.hibernateAfterS} onInput={set("hibernateAfterS")} />
        </label>
        <label>
          Metadata <input placeholder="team=a, env=dev" value={form.metadata} onInput={set("metadata")} />
        </label>
        <label>
          Egress
          <select value={form.egress} onChange={set("egress")}>
            <option value="allow">allow all</option>
            <option value="deny">deny all</option>
          </select>
        </label>
        <div>
          <button type="submit" disabled={busy}>
            {busy ? "Creating…" : "Create"}
          </button>
        </div>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
      </form>
    </details>
  );
}
