/**
 * A scripted in-memory envd: the agent side of a fake sandbox, reached through the real server's
 * envd proxy (see burrow.ts). It speaks enough of the protocol for the SDK, CLI and MCP tests:
 * process Start/Connect/SendInput/SendSignal/CloseStdin/Update/List, filesystem
 * Stat/MakeDir/Remove/ListDir/Move/WatchDir and `/files`. Every fake sandbox shares it.
 * Commands are scripted by their bash string: `echo <text>`, `fail`, `sleep`, `cat`, `chatty <n>`.
 */
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  type ConnectErrorBody,
  EnvelopeDecoder,
  encodeEndStream,
  encodeEnvelope,
  type ProcessStartRequest,
  parseEnvelopeJson,
  toBase64,
} from "@burrow/core";

interface FakeProcess {
  pid: number;
  cmd: string;
  events: unknown[];
  listeners: Set<(event: unknown) => void>;
  ended: boolean;
  stdin: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export class FakeEnvd {
  readonly files = new Map<string, Buffer>();
  readonly dirs = new Set<string>(["/", "/home/user"]);
  readonly processes = new Map<number, FakeProcess>();
  readonly requests: RecordedRequest[] = [];
  private readonly watchers = new Set<(name: string) => void>();
  private nextPid = 100;
  private server: Server | undefined;
  port = 0;

  async start(): Promise<number> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        res.statusCode = 500;
        res.end(String(err));
      });
    });
    this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    this.port = (this.server.address() as AddressInfo).port;
    return this.port;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  private json(res: ServerResponse, status: number, body?: unknown): void {
    res.writeHead(status, body === undefined ? {} : { "Content-Type": "application/json" });
    res.end(body === undefined ? undefined : JSON.stringify(body));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://agent");
    this.requests.push({ method: req.method ?? "", path: url.pathname, headers: req.headers });
    if (url.pathname === "/health") return this.json(res, 204);
    return this.envd(url.pathname, url, req, res);
  }

  private async envd(path: string, url: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    if (path === "/files") return this.filesRoute(url, req, res, raw);
    if (path === "/process.Process/Start" || path === "/process.Process/Connect" || path.endsWith("/WatchDir")) {
      const envelopes = new EnvelopeDecoder().push(raw);
      const request = parseEnvelopeJson(envelopes[0] as { flags: number; data: Uint8Array });
      if (path.endsWith("/WatchDir")) return this.watch(res);
      return this.stream(path, request, res);
    }
    const body = JSON.parse(raw.toString() || "{}");
    const reply = this.unary(path, body);
    if ("code" in reply) return this.json(res, reply.code === "not_found" ? 404 : 409, reply);
    return this.json(res, 200, reply.ok);
  }

  private unary(path: string, body: Record<string, unknown>): { ok: unknown } | ConnectErrorBody {
    const pid = (body.process as { pid?: number } | undefined)?.pid ?? -1;
    const proc = this.processes.get(pid);
    const p = String(body.path ?? "");
    switch (path) {
      case "/process.Process/SendSignal":
        if (proc === undefined || proc.ended) return { code: "not_found", message: `process ${pid} not found` };
        this.emit(proc, { event: { end: { exitCode: -1, status: "signal: killed", error: "signal: killed" } } });
        return { ok: {} };
      case "/process.Process/SendInput": {
        if (proc === undefined) return { code: "not_found", message: `process ${pid} not found` };
        const input = body.input as { stdin?: string; pty?: string };
        const text = Buffer.from(input.stdin ?? input.pty ?? "", "base64").toString();
        proc.stdin += text;
        this.emit(proc, {
          event: { data: input.pty === undefined ? { stdout: toBase64(text) } : { pty: toBase64(text) } },
        });
        // Like a shell at an empty prompt, the fake terminal exits on Ctrl-D.
        if (input.pty !== undefined && text.includes("\u0004")) {
          this.emit(proc, { event: { end: { exitCode: 0, exited: true } } });
        }
        return { ok: {} };
      }
      case "/process.Process/CloseStdin":
        if (proc === undefined) return { code: "not_found", message: `process ${pid} not found` };
        this.emit(proc, { event: { end: { exitCode: 0, exited: true, status: "exit status 0" } } });
        return { ok: {} };
      case "/process.Process/Update":
        if (proc === undefined) return { code: "not_found", message: `process ${pid} not found` };
        return { ok: {} };
      case "/process.Process/List":
        return {
          ok: {
            processes: [...this.processes.values()]
              .filter((x) => !x.ended)
              .map((x) => ({ pid: x.pid, config: { cmd: "/bin/bash", args: ["-l", "-c", x.cmd] } })),
          },
        };
      case "/filesystem.Filesystem/Stat":
        if (this.dirs.has(p))
          return { ok: { entry: { name: p.split("/").pop(), path: p, type: "FILE_TYPE_DIRECTORY" } } };
        if (!this.files.has(p)) return { code: "not_found", message: `path '${p}' does not exist` };
        return {
          ok: {
            entry: {
              name: p.split("/").pop(),
              path: p,
              type: "FILE_TYPE_FILE",
              size: String(this.files.get(p)?.length),
              modifiedTime: "2025-01-02T03:04:05Z",
            },
          },
        };
      case "/filesystem.Filesystem/MakeDir":
        if (this.dirs.has(p)) return { code: "already_exists", message: `'${p}' exists` };
        this.dirs.add(p);
        return { ok: { entry: { path: p, type: "FILE_TYPE_DIRECTORY" } } };
      case "/filesystem.Filesystem/Remove":
        if (!this.files.delete(p) && !this.dirs.delete(p)) return { code: "not_found", message: `'${p}' missing` };
        return { ok: {} };
      case "/filesystem.Filesystem/ListDir":
        return {
          ok: {
            entries: [...this.files.keys()]
              .filter((f) => f.startsWith(`${p}/`))
              .map((f) => ({ name: f.slice(p.length + 1), path: f, type: 1, size: this.files.get(f)?.length })),
          },
        };
      case "/filesystem.Filesystem/Move": {
        const data = this.files.get(String(body.source));
        if (data === undefined) return { code: "not_found", message: "no source" };
        this.files.delete(String(body.source));
        this.files.set(String(body.destination), data);
        return { ok: { entry: { path: body.destination, name: "moved", type: "FILE_TYPE_FILE" } } };
      }
      default:
        return { code: "unimplemented", message: `${path} is not faked` };
    }
  }

  private filesRoute(url: URL, req: IncomingMessage, res: ServerResponse, raw: Buffer): void {
    const path = url.searchParams.get("path") ?? "";
    if (req.method === "GET") {
      const data = this.files.get(path);
      if (data === undefined) {
        this.json(res, 404, { code: 404, message: `path '${path}' does not exist` });
        return;
      }
      res.writeHead(200, { "Content-Type": "application/octet-stream" });
      res.end(data);
      return;
    }
    this.files.set(path, raw);
    for (const w of this.watchers) w(path.split("/").pop() ?? "");
    this.json(res, 200, [{ path, name: path.split("/").pop(), type: "file" }]);
  }

  private watch(res: ServerResponse): void {
    res.writeHead(200, { "Content-Type": "application/connect+json" });
    res.write(encodeEnvelope({ start: {} }));
    const send = (name: string) => res.write(encodeEnvelope({ filesystem: { name, type: "EVENT_TYPE_CREATE" } }));
    this.watchers.add(send);
    res.on("close", () => this.watchers.delete(send));
  }

  private emit(proc: FakeProcess, event: unknown): void {
    if (proc.ended) return;
    proc.events.push(event);
    if ((event as { event: { end?: unknown } }).event.end !== undefined) proc.ended = true;
    for (const l of proc.listeners) l(event);
  }

  private stream(path: string, request: unknown, res: ServerResponse): void {
    let proc: FakeProcess | undefined;
    if (path.endsWith("/Connect")) {
      proc = this.processes.get((request as { process: { pid: number } }).process.pid);
      if (proc === undefined) {
        res.writeHead(200, { "Content-Type": "application/connect+json" });
        res.end(encodeEndStream({ code: "not_found", message: "no such process" }));
        return;
      }
    } else {
      const start = request as ProcessStartRequest;
      const cmd = start.pty !== undefined ? "pty" : ((start.process.args ?? [])[2] ?? "");
      proc = { pid: this.nextPid++, cmd, events: [], listeners: new Set(), ended: false, stdin: "" };
      this.processes.set(proc.pid, proc);
    }
    const p = proc;
    res.writeHead(200, { "Content-Type": "application/connect+json" });
    const send = (event: unknown) => {
      res.write(encodeEnvelope(event));
      if ((event as { event: { end?: unknown } }).event.end !== undefined) res.end(encodeEndStream());
    };
    send({ event: { start: { pid: p.pid } } });
    for (const e of p.events) send(e);
    if (p.ended) return;
    p.listeners.add(send);
    res.on("close", () => p.listeners.delete(send));
    if (path.endsWith("/Start")) this.script(p);
  }

  private script(p: FakeProcess): void {
    const out = (text: string) => this.emit(p, { event: { data: { stdout: toBase64(text) } } });
    const end = (exitCode: number) => this.emit(p, { event: { end: { exitCode, exited: true } } });
    const [word, arg = ""] = p.cmd.split(/ (.*)/s);
    if (word === "echo") {
      // Split a multi-byte character across two events to exercise streaming decoding.
      const bytes = Buffer.from(`${arg.replace(/'/g, "")}\n`);
      this.emit(p, { event: { data: { stdout: toBase64(bytes.subarray(0, 1)) } } });
      this.emit(p, { event: { data: { stdout: toBase64(bytes.subarray(1)) } } });
      end(0);
    } else if (word === "fail") {
      this.emit(p, { event: { data: { stderr: toBase64("boom\n") } } });
      end(3);
    } else if (word === "chatty") {
      for (let i = 0; i < Number(arg); i++) out(`line ${i}\n`);
      end(0);
    } else if (word !== "sleep" && word !== "cat" && word !== "pty") {
      end(127);
    }
  }
}
