import { Sandbox } from "@burrow/sdk";
import { useState } from "preact/hooks";
import { connection, message, storeKey } from "./session.js";

/** Asks for an API key and checks it against the server before keeping it. */
export function SignIn(props: { onSignedIn: (key: string) => void }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await Sandbox.list(connection(key.trim()));
      storeKey(key.trim());
      props.onSignedIn(key.trim());
    } catch (err) {
      setError(message(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="sign-in">
      <h1>Burrow</h1>
      <form onSubmit={submit}>
        <label for="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autocomplete="off"
          required
          value={key}
          onInput={(e) => setKey((e.target as HTMLInputElement).value)}
        />
        <p class="hint">The admin key is in the server's data directory (admin-key). It stays in this tab only.</p>
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        {error && (
          <p class="error" role="alert" data-testid="sign-in-error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}
