import { join } from "node:path";
import { Sandbox } from "@burrow/sdk";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";
import { sh } from "./sandbox-shell.js";

/** A server started through the agent that keeps a random value and a counter in memory only. */
const COUNTER_SERVER = `import http.server, os, socketserver
value = os.urandom(8).hex()
count = 0
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        global count
        count += 1
        body = f"{value} {count}".encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
socketserver.TCPServer.allow_reuse_address = True
socketserver.TCPServer(("0.0.0.0", 8123), H).serve_forever()
`;

function agentTokens(server: TestServer, ids: string[]): string[] {
  const db = new Database(join(server.dataDir, "burrow.db"), { readonly: true, fileMustExist: true });
  try {
    const q = db.prepare("SELECT agent_token FROM sandboxes WHERE id = ?").pluck();
    return ids.map((id) => q.get(id) as string);
  } finally {
    db.close();
  }
}

/** What the agent at 127.0.0.1 answers a token (401: not its token). */
const initWith = (token: string) =>
  `curl -s -o /dev/null -w '%{http_code}' -X POST -H 'X-Access-Token: ${token}' -d '{}' http://127.0.0.1:49983/init`;

// Forks that carry memory, real gVisor: a fork of a full checkpoint (or of `now`) restores the
// source's processes and memory into each fork, under its own id, address and agent token.
describe("forks with memory", () => {
  let server: TestServer;
  const opts = () => ({ apiUrl: server.url, apiKey: server.apiKey });
  const get = (sb: Sandbox) => sb.commands.run("curl -sf http://127.0.0.1:8123/").then((r) => r.stdout.split(" "));
  const ipOf = async (sb: Sandbox) => (await sb.commands.run("hostname -I")).stdout.trim();

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server?.dispose();
  });

  async function startCounter(sb: Sandbox): Promise<[string, number]> {
    await sb.files.write("/home/user/counter.py", COUNTER_SERVER);
    await (
      await sb.commands.run("exec python3 /home/user/counter.py", { background: true, timeoutMs: 0 })
    ).disconnect();
    let seen: string[] = [];
    for (let i = 0; i < 100 && seen.length < 2; i++) {
      seen = await get(sb).catch(() => []);
      if (seen.length < 2) await new Promise((r) => setTimeout(r, 100));
    }
    expect(seen[0]).toMatch(/^[0-9a-f]{16}$/);
    return [seen[0] as string, Number(seen[1])];
  }

  it("forks of a full checkpoint run on with the source's memory and files, then diverge; each its own address and token", async () => {
    const source = await Sandbox.create({ ...opts(), lifecycle: { standbyAfterMs: 0, hibernateAfterMs: 0 } });
    const forks: Sandbox[] = [];
    try {
      const [value, count] = await startCounter(source);
      await source.files.write("/home/user/notes.txt", "before the checkpoint\n");
      const ck = await source.checkpoints.create({ mode: "full", wait: true });
      // Changes after the checkpoint are not in the forks.
      await source.files.write("/home/user/notes.txt", "after the checkpoint\n");
      const fork = await source.checkpoints.fork(ck.id, { count: 3 });
      expect(fork.processes).toBe("restored");
      expect(fork.sandboxIds).toHaveLength(3);
      for (const id of fork.sandboxIds) forks.push(await Sandbox.connect(id, opts()));

      // Identical at start: the value drawn before the checkpoint, and the counter where it was.
      for (const f of forks) expect(await get(f)).toEqual([value, String(count + 1)]);
      // Then each goes its own way.
      await get(forks[0] as Sandbox);
      expect(await get(forks[0] as Sandbox)).toEqual([value, String(count + 3)]);
      expect(await get(forks[1] as Sandbox)).toEqual([value, String(count + 2)]);
      for (const f of forks) expect(await f.files.read("/home/user/notes.txt")).toBe("before the checkpoint\n");
      await forks[2]?.files.write("/home/user/notes.txt", "fork 2\n");
      expect(await forks[1]?.files.read("/home/user/notes.txt")).toBe("before the checkpoint\n");
      expect(await source.files.read("/home/user/notes.txt")).toBe("after the checkpoint\n");

      // No two share an address or an agent token; the source's token opens no fork's agent.
      const ips = await Promise.all([source, ...forks].map(ipOf));
      expect(new Set(ips).size).toBe(4);
      const tokens = agentTokens(server, [source.sandboxId, ...fork.sandboxIds]);
      expect(new Set(tokens).size).toBe(4);
      for (const f of forks) expect((await sh(f, initWith(tokens[0] as string))).stdout).toBe("401");
      // The source runs on untouched: its counter did not see the forks' requests.
      expect(await get(source)).toEqual([value, String(count + 1)]);
    } finally {
      await Promise.all(forks.map((f) => f.kill().catch(() => false)));
      await source.kill();
    }
  });

  it("a fork of `now` takes a full checkpoint first and carries the memory; an fs checkpoint's forks start fresh", async () => {
    const source = await Sandbox.create({ ...opts(), lifecycle: { standbyAfterMs: 0, hibernateAfterMs: 0 } });
    const forks: Sandbox[] = [];
    try {
      const [value, count] = await startCounter(source);
      const now = await source.checkpoints.fork("now");
      expect(now.processes).toBe("restored");
      const ck = await source.checkpoints.get(now.checkpointId);
      expect(ck.mode).toBe("full");
      const withMemory = await Sandbox.connect(now.sandboxIds[0] as string, opts());
      forks.push(withMemory);
      expect(await get(withMemory)).toEqual([value, String(count + 1)]);

      const fsCk = await source.checkpoints.create({ mode: "fs", wait: true });
      const fresh = await source.checkpoints.fork(fsCk.id);
      expect(fresh.processes).toBe("fresh");
      const freshFork = await Sandbox.connect(fresh.sandboxIds[0] as string, opts());
      forks.push(freshFork);
      // The files are there, the process is not.
      expect(await freshFork.files.exists("/home/user/counter.py")).toBe(true);
      expect((await sh(freshFork, "curl -sf http://127.0.0.1:8123/ || echo down")).stdout.trim()).toBe("down");
    } finally {
      await Promise.all(forks.map((f) => f.kill().catch(() => false)));
      await source.kill();
    }
  });
});
