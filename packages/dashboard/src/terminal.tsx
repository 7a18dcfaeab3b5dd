import { type CommandHandle, Sandbox } from "@burrow/sdk";
import { Terminal as XTerm } from "@xterm/xterm";
import { useEffect, useRef, useState } from "preact/hooks";
import { connection, message } from "./session.js";
import { onCloseStreams } from "./stream-bus.js";

const ROWS = 20;
const CHAR_WIDTH_PX = 8.5;

function colsFor(el: HTMLElement): number {
  return Math.max(20, Math.floor((el.clientWidth - 16) / CHAR_WIDTH_PX));
}

/**
 * bash in a PTY of the sandbox, drawn by xterm.js. Output arrives on the envd PTY stream (Connect
 * server streaming over fetch, through the server's /v1/sandboxes/:id/envd proxy); keys go out as
 * SendInput calls, in order. The terminal has no timeout and is killed when the page is left.
 */
export function Terminal(props: { apiKey: string; sandboxId: string }) {
  const host = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState("connecting…");
  const [generation, setGeneration] = useState(0);

  useEffect(() => {
    const el = host.current;
    if (el === null) return;
    const term = new XTerm({ rows: ROWS, cols: colsFor(el), fontSize: 14, convertEol: false, cursorBlink: true });
    term.open(el);
    const controller = new AbortController();
    let handle: CommandHandle | undefined;
    let sandbox: Sandbox | undefined;
    let queue: Promise<unknown> = Promise.resolve();

    const start = async () => {
      sandbox = await Sandbox.connect(props.sandboxId, connection(props.apiKey));
      handle = await sandbox.pty.create({
        cols: term.cols,
        rows: term.rows,
        timeoutMs: 0,
        signal: controller.signal,
        requestTimeoutMs: 120_000,
        onData: (data) => term.write(data),
      });
      setStatus("connected");
      term.focus();
      await handle.wait().catch(() => undefined);
      if (!controller.signal.aborted) setStatus((s) => (s === "closed" ? s : "ended"));
    };
    start().catch((err: unknown) => {
      if (!controller.signal.aborted) setStatus(`disconnected: ${message(err)}`);
    });

    const input = term.onData((data) => {
      const h = handle;
      if (h === undefined) return;
      queue = queue.then(() => h.sendStdin(data)).catch((err: unknown) => setStatus(`input failed: ${message(err)}`));
    });
    const onResize = () => {
      const cols = colsFor(el);
      if (cols === term.cols) return;
      term.resize(cols, ROWS);
      if (handle !== undefined && sandbox !== undefined) {
        sandbox.pty.resize(handle.pid, { cols, rows: ROWS }).catch(() => undefined);
      }
    };
    window.addEventListener("resize", onResize);
    // Before this page hibernates or deletes the sandbox: end the shell, so the stream ends cleanly.
    const stopClosing = onCloseStreams(props.sandboxId, async () => {
      const h = handle;
      handle = undefined;
      if (h === undefined) return;
      setStatus("closed");
      await h.kill().catch(() => undefined);
      await h.wait().catch(() => undefined);
    });
    return () => {
      stopClosing();
      window.removeEventListener("resize", onResize);
      input.dispose();
      controller.abort();
      term.dispose();
    };
  }, [props.apiKey, props.sandboxId, generation]);

  return (
    <section aria-labelledby="terminal-h">
      <div class="bar">
        <h2 id="terminal-h">Terminal</h2>
        <span class="muted" data-testid="terminal-status">
          {status}
        </span>
        {status !== "connected" && status !== "connecting…" && (
          <button type="button" onClick={() => setGeneration(generation + 1)}>
            Reconnect
          </button>
        )}
      </div>
      <div class="terminal" ref={host} data-testid="terminal" />
    </section>
  );
}
