import { useEffect, useState } from "preact/hooks";
import { SandboxList } from "./sandbox-list.js";
import { SandboxPage } from "./sandbox-page.js";
import { forgetKey, storedKey } from "./session.js";
import { SignIn } from "./sign-in.js";
import { useLiveSandboxes } from "./use-live-sandboxes.js";

/** `#/` is the sandbox list, `#/sandboxes/<id>` one sandbox. */
function currentRoute(): string | null {
  const m = /^#\/sandboxes\/([^/]+)$/.exec(window.location.hash);
  return m ? decodeURIComponent(m[1] as string) : null;
}

export function App() {
  const [apiKey, setApiKey] = useState<string | null>(storedKey());
  const [sandboxId, setSandboxId] = useState<string | null>(currentRoute());

  useEffect(() => {
    const onHash = () => setSandboxId(currentRoute());
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);

  if (apiKey === null) return <SignIn onSignedIn={setApiKey} />;
  const signOut = () => {
    forgetKey();
    setApiKey(null);
  };
  return <SignedIn apiKey={apiKey} sandboxId={sandboxId} onSignOut={signOut} />;
}

function SignedIn(props: { apiKey: string; sandboxId: string | null; onSignOut: () => void }) {
  const live = useLiveSandboxes(props.apiKey);
  return (
    <div class="shell">
      <header class="top">
        <a href="#/" class="brand">
          Burrow
        </a>
        <span class={`live ${live.connected ? "on" : "off"}`} data-testid="live">
          {live.connected ? "live" : "connecting…"}
        </span>
        <button type="button" onClick={props.onSignOut}>
          Sign out
        </button>
      </header>
      <main>
        {live.error && (
          <p class="error" role="alert">
            {live.error}
          </p>
        )}
        {props.sandboxId === null ? (
          <SandboxList apiKey={props.apiKey} live={live} />
        ) : (
          <SandboxPage apiKey={props.apiKey} sandboxId={props.sandboxId} live={live} />
        )}
      </main>
    </div>
  );
}
