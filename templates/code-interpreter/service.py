#!/usr/bin/env python3
"""Burrow's code interpreter service: E2B's code-interpreter protocol on port 49999.

Runs inside a `code-interpreter` sandbox as the template's start command. Python contexts are
ipykernel kernels driven through jupyter_client; JavaScript contexts are Node processes running
js_kernel.mjs next to this file. Stdlib HTTP server, one thread per request.

Routes: GET /health; POST /execute (NDJSON stream); GET|POST /contexts;
POST /contexts/{id}/restart; DELETE /contexts/{id}.
"""

import json
import os
import queue
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from jupyter_client.manager import KernelManager

PORT = int(os.environ.get("BURROW_CODE_PORT", "49999"))
# Per execution: stdout and stderr text past this many bytes is dropped (one marker says so);
# rich results past their own budget likewise.
STREAM_LIMIT_BYTES = int(os.environ.get("BURROW_CODE_STREAM_LIMIT_BYTES", str(1024 * 1024)))
RESULT_LIMIT_BYTES = int(os.environ.get("BURROW_CODE_RESULT_LIMIT_BYTES", str(16 * 1024 * 1024)))
KEEPALIVE_S = 1.0
DEFAULT_CWD = os.environ.get("BURROW_CODE_CWD", os.path.expanduser("~"))
JS_KERNEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js_kernel.mjs")

# Jupyter MIME types → the result fields of E2B's wire format.
MIME_FIELDS = {
    "text/plain": "text",
    "text/html": "html",
    "text/markdown": "markdown",
    "image/svg+xml": "svg",
    "image/png": "png",
    "image/jpeg": "jpeg",
    "application/pdf": "pdf",
    "text/latex": "latex",
    "application/json": "json",
    "application/javascript": "javascript",
}

LANGUAGES = {"python": "python", "py": "python", "js": "js", "javascript": "js", "node": "js"}


def now_iso():
    return datetime.now(timezone.utc).isoformat()


class HttpError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class Budget:
    """Counts the bytes an execution sent; says when a kind of output is over its limit."""

    def __init__(self):
        self.used = {"stream": 0, "result": 0}
        self.truncated = {"stream": False, "result": False}

    def take(self, kind, size):
        limit = STREAM_LIMIT_BYTES if kind == "stream" else RESULT_LIMIT_BYTES
        if self.used[kind] + size > limit:
            first = not self.truncated[kind]
            self.truncated[kind] = True
            return "first-over" if first else "over"
        self.used[kind] += size
        return "ok"


class Run:
    """One execution's sink: sends events to the client and enforces the output budget."""

    def __init__(self, emit, cancelled):
        self.emit = emit
        self.cancelled = cancelled
        self.budget = Budget()

    def stream(self, name, text):
        if self.budget.truncated["stream"]:
            return
        data = text.encode("utf-8", "replace")
        room = STREAM_LIMIT_BYTES - self.budget.used["stream"]
        if len(data) <= room:
            self.budget.used["stream"] += len(data)
            self.emit({"type": name, "text": text, "timestamp": now_iso()})
            return
        # The part that fits, then one marker; later output of this execution is dropped.
        self.budget.used["stream"] = STREAM_LIMIT_BYTES
        self.budget.truncated["stream"] = True
        head = data[:room].decode("utf-8", "ignore")
        if head:
            self.emit({"type": name, "text": head, "timestamp": now_iso()})
        marker = f"\n[burrow: output truncated after {STREAM_LIMIT_BYTES} bytes; the code keeps running]\n"
        self.emit({"type": "stderr", "text": marker, "timestamp": now_iso()})

    def result(self, fields, is_main):
        size = sum(len(json.dumps(v)) for v in fields.values())
        verdict = self.budget.take("result", size)
        if verdict == "ok":
            self.emit({"type": "result", **fields, "is_main_result": is_main})
        elif verdict == "first-over":
            marker = f"\n[burrow: results dropped after {RESULT_LIMIT_BYTES} bytes]\n"
            self.emit({"type": "stderr", "text": marker, "timestamp": now_iso()})

    def error(self, name, value, traceback):
        self.emit({"type": "error", "name": name, "value": value, "traceback": traceback})


class PythonContext:
    language = "python"

    def __init__(self, cwd, env_vars):
        self.id = uuid.uuid4().hex
        self.cwd = cwd
        self.env_vars = dict(env_vars)
        self.lock = threading.Lock()
        self.km = None
        self.kc = None
        self.start()

    def start(self):
        env = {**os.environ, **self.env_vars}
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(cwd=self.cwd, env=env)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=120)

    def warm_up(self):
        """One execution that shows a result, kept out of the history, so the caller's first
        execution is not the kernel's first (IPython sets up its display machinery lazily)."""
        with self.lock:
            self._reply(self.kc.execute("1+1", silent=False, store_history=False), 30)

    def shutdown(self):
        try:
            self.kc.stop_channels()
        finally:
            self.km.shutdown_kernel(now=True)

    def restart(self):
        with self.lock:
            self.shutdown()
            self.start()

    def _quiet(self, code):
        """Runs setup code without output or history and waits for its reply."""
        msg_id = self.kc.execute(code, silent=True, store_history=False)
        self._reply(msg_id, 30)

    def _reply(self, msg_id, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = self.kc.get_shell_msg(timeout=0.5)
            except queue.Empty:
                if not self.km.is_alive():
                    return None
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg
        return None

    def execute(self, code, env_vars, run):
        with self.lock:
            if env_vars:
                self._quiet(
                    "import os as _burrow_os\n"
                    f"_burrow_saved_env = {{k: _burrow_os.environ.get(k) for k in {list(env_vars)!r}}}\n"
                    f"_burrow_os.environ.update({dict(env_vars)!r})\n"
                )
            try:
                self._execute(code, run)
            finally:
                if env_vars and self.km.is_alive():
                    self._quiet(
                        "for _k, _v in _burrow_saved_env.items():\n"
                        "    _burrow_os.environ.pop(_k, None) if _v is None else _burrow_os.environ.__setitem__(_k, _v)\n"
                        "del _burrow_saved_env, _k, _v\n"
                    )

    def _execute(self, code, run):
        msg_id = self.kc.execute(code, store_history=True, allow_stdin=False, stop_on_error=True)
        interrupted = False
        count = None
        while True:
            if not interrupted and run.cancelled():
                interrupted = True
                self.km.interrupt_kernel()
            try:
                msg = self.kc.get_iopub_msg(timeout=KEEPALIVE_S)
            except queue.Empty:
                if not self.km.is_alive():
                    run.error("UnexpectedEndOfExecution", "the kernel stopped during the execution; it was restarted and its state is lost", "")
                    self.shutdown()
                    self.start()
                    return
                run.emit({"type": "keepalive"})
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            content = msg["content"]
            if kind == "stream":
                run.stream("stderr" if content.get("name") == "stderr" else "stdout", content.get("text", ""))
            elif kind in ("execute_result", "display_data"):
                fields = {}
                for mime, value in content.get("data", {}).items():
                    fields[MIME_FIELDS.get(mime, mime)] = value
                run.result(fields, kind == "execute_result")
            elif kind == "error":
                run.error(content.get("ename", "Error"), content.get("evalue", ""), "\n".join(content.get("traceback", [])))
            elif kind == "execute_input":
                count = content.get("execution_count")
            elif kind == "status" and content.get("execution_state") == "idle":
                break
        self._reply(msg_id, 5)
        if count is not None:
            run.emit({"type": "number_of_executions", "execution_count": count})


class JsContext:
    language = "js"

    def __init__(self, cwd, env_vars):
        self.id = uuid.uuid4().hex
        self.cwd = cwd
        self.env_vars = dict(env_vars)
        self.lock = threading.Lock()
        self.proc = None
        self.events = None
        self.start()

    def start(self):
        read_fd, write_fd = os.pipe()
        env = {**os.environ, **self.env_vars, "BURROW_JS_EVENTS_FD": str(write_fd)}
        self.proc = subprocess.Popen(
            ["node", JS_KERNEL],
            cwd=self.cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(write_fd,),
        )
        os.close(write_fd)
        self.events = queue.Queue()
        threading.Thread(target=self._read, args=(os.fdopen(read_fd, "rb"), self.events), daemon=True).start()
        # The kernel says it is ready once its context exists.
        msg = self.events.get(timeout=60)
        if msg is None or msg.get("type") != "ready":
            raise RuntimeError("the JavaScript kernel did not start")

    @staticmethod
    def _read(pipe, events):
        for line in pipe:
            try:
                events.put(json.loads(line))
            except ValueError:
                continue
        events.put(None)

    def shutdown(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def restart(self):
        with self.lock:
            self.shutdown()
            self.start()

    def execute(self, code, env_vars, run):
        with self.lock:
            exec_id = uuid.uuid4().hex
            request = json.dumps({"id": exec_id, "code": code, "env": env_vars or {}}) + "\n"
            try:
                self.proc.stdin.write(request.encode())
                self.proc.stdin.flush()
            except OSError:
                pass
            interrupted = False
            while True:
                if not interrupted and run.cancelled():
                    interrupted = True
                    self.proc.send_signal(signal.SIGINT)
                try:
                    msg = self.events.get(timeout=KEEPALIVE_S)
                except queue.Empty:
                    run.emit({"type": "keepalive"})
                    continue
                if msg is None:
                    run.error("UnexpectedEndOfExecution", "the JavaScript kernel stopped during the execution; it was restarted and its state is lost", "")
                    self.shutdown()
                    self.start()
                    return
                if msg.get("id") != exec_id:
                    continue
                kind = msg.get("type")
                if kind in ("stdout", "stderr"):
                    run.stream(kind, msg.get("text", ""))
                elif kind == "result":
                    run.result({"text": msg.get("text", "")}, True)
                elif kind == "error":
                    run.error(msg.get("name", "Error"), msg.get("value", ""), msg.get("traceback", ""))
                elif kind == "done":
                    run.emit({"type": "number_of_executions", "execution_count": msg.get("count", 0)})
                    return


class Contexts:
    def __init__(self):
        self.lock = threading.Lock()
        self.by_id = {}
        self.defaults = {}

    def create(self, language, cwd, env_vars):
        cls = PythonContext if language == "python" else JsContext
        ctx = cls(cwd or DEFAULT_CWD, env_vars or {})
        with self.lock:
            self.by_id[ctx.id] = ctx
        return ctx

    def default(self, language):
        with self.lock:
            ctx = self.defaults.get(language)
            if ctx is not None and ctx.id in self.by_id:
                return ctx
        ctx = self.create(language, DEFAULT_CWD, {})
        with self.lock:
            existing = self.defaults.get(language)
            if existing is not None and existing.id in self.by_id:
                self.by_id.pop(ctx.id, None)
                threading.Thread(target=ctx.shutdown, daemon=True).start()
                return existing
            self.defaults[language] = ctx
        return ctx

    def get(self, context_id):
        with self.lock:
            ctx = self.by_id.get(context_id)
        if ctx is None:
            raise HttpError(404, "not_found", f"context '{context_id}' not found; list them with GET /contexts")
        return ctx

    def remove(self, context_id):
        ctx = self.get(context_id)
        with self.lock:
            self.by_id.pop(context_id, None)
        ctx.shutdown()

    def list(self):
        with self.lock:
            return list(self.by_id.values())


CONTEXTS = Contexts()


def describe(ctx):
    return {"id": ctx.id, "language": ctx.language, "cwd": ctx.cwd}


def language_of(value):
    if value is None:
        return "python"
    if not isinstance(value, str) or value.lower() not in LANGUAGES:
        raise HttpError(400, "validation_failed", f"language '{value}' is not supported; use python or js")
    return LANGUAGES[value.lower()]


def env_of(value, field):
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise HttpError(400, "validation_failed", f"{field} must be an object of strings")
    return value


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "burrow-code-interpreter"
    # Events are small writes: without TCP_NODELAY, Nagle holds each behind the peer's delayed ACK.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        pass

    def _json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _empty(self, status):
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        if not raw:
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            raise HttpError(400, "validation_failed", "the body is not JSON")
        if not isinstance(body, dict):
            raise HttpError(400, "validation_failed", "the body must be a JSON object")
        return body

    def _path(self):
        return self.path.split("?", 1)[0].rstrip("/") or "/"

    def _dispatch(self, method):
        try:
            path = self._path()
            parts = path.strip("/").split("/")
            if method == "GET" and path == "/health":
                return self._json(200, "OK")
            if method == "POST" and path == "/execute":
                return self._execute(self._body())
            if path == "/contexts":
                if method == "GET":
                    return self._json(200, [describe(c) for c in CONTEXTS.list()])
                if method == "POST":
                    body = self._body()
                    cwd = body.get("cwd")
                    if cwd is not None and not isinstance(cwd, str):
                        raise HttpError(400, "validation_failed", "cwd must be a string")
                    ctx = CONTEXTS.create(language_of(body.get("language")), cwd, env_of(body.get("env_vars"), "env_vars"))
                    return self._json(200, describe(ctx))
            if len(parts) == 3 and parts[0] == "contexts" and parts[2] == "restart" and method == "POST":
                CONTEXTS.get(parts[1]).restart()
                return self._empty(204)
            if len(parts) == 2 and parts[0] == "contexts" and method == "DELETE":
                CONTEXTS.remove(parts[1])
                return self._empty(204)
            raise HttpError(404, "not_found", f"no route {method} {path}")
        except HttpError as e:
            self._json(e.status, {"error": {"code": e.code, "message": e.message}})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _execute(self, body):
        code = body.get("code")
        if not isinstance(code, str):
            raise HttpError(400, "validation_failed", "code must be a string")
        context_id = body.get("context_id")
        language = body.get("language")
        if context_id is not None and language is not None:
            raise HttpError(400, "validation_failed", "give context_id or language, not both")
        env_vars = env_of(body.get("env_vars"), "env_vars")
        if context_id is not None:
            ctx = CONTEXTS.get(context_id)
        else:
            ctx = CONTEXTS.default(language_of(language))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        gone = threading.Event()
        sock = self.connection

        def emit(event):
            if gone.is_set():
                return
            data = (json.dumps(event) + "\n").encode()
            try:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            except OSError:
                gone.set()

        def cancelled():
            if gone.is_set():
                return True
            try:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable and sock.recv(1, socket.MSG_PEEK) == b"":
                    gone.set()
            except OSError:
                gone.set()
            return gone.is_set()

        ctx.execute(code, env_vars, Run(emit, cancelled))
        if gone.is_set():
            self.close_connection = True
            return
        # The last event and the end of the chunked body in one write.
        data = (json.dumps({"type": "end_of_execution"}) + "\n").encode()
        try:
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data))
            self.wfile.flush()
        except OSError:
            self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def service_actions(self):
        # Runs after every poll (at least each 0.5 s). A listening socket that came back from a
        # checkpoint restore no longer listening is made to listen again, and says so.
        try:
            listening = self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        except OSError as e:
            print(f"burrow code interpreter: SO_ACCEPTCONN failed: {e}", file=sys.stderr, flush=True)
            return
        if not listening:
            print("burrow code interpreter: the port stopped listening; listening again", file=sys.stderr, flush=True)
            self.socket.listen(self.request_queue_size)


def main():
    # The default Python context is warm before the port opens: the template's ready check is
    # this port, so a sandbox (and a warm-pool sandbox) answers create with the kernel up.
    CONTEXTS.default("python").warm_up()
    threading.Thread(target=CONTEXTS.default, args=("js",), daemon=True).start()
    server = Server(("0.0.0.0", PORT), Handler)
    print(f"burrow code interpreter listening on {PORT}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except BaseException as e:
        print(f"burrow code interpreter stopped: {e!r}", file=sys.stderr, flush=True)
        raise


if __name__ == "__main__":
    main()
