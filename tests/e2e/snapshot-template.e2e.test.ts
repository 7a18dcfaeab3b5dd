import type { TemplateVersionInfo } from "@burrow/core";
import { Sandbox } from "@burrow/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";

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

// Snapshot templates, real gVisor: a template made of a running sandbox's files and memory;
// sandboxes created from it start with its processes running, each in a new identity.
describe("snapshot templates", () => {
  let server: TestServer;
  const opts = () => ({ apiUrl: server.url, apiKey: server.apiKey });
  const get = (sb: Sandbox) => sb.commands.run("curl -sf http://127.0.0.1:8123/").then((r) => r.stdout.split(" "));

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server?.dispose();
  });

  it("sandboxes from a snapshot see the source's process with its memory, in their own ids and addresses", async () => {
    const source = await Sandbox.create({ ...opts(), lifecycle: { standbyAfterMs: 0, hibernateAfterMs: 0 } });
    await source.files.write("/home/user/counter.py", COUNTER_SERVER);
    await source.files.write("/home/user/notes.txt", "written before the snapshot\n");
    await (
      await source.commands.run("exec python3 /home/user/counter.py", { background: true, timeoutMs: 0 })
    ).disconnect();
    let before: string[] = [];
    for (let i = 0; i < 100 && before.length < 2; i++) {
      before = await get(source).catch(() => []);
      if (before.length < 2) await new Promise((r) => setTimeout(r, 100));
    }
    const [value, countBefore] = before;
    expect(value).toMatch(/^[0-9a-f]{16}$/);

    const res = await server.request("POST", "/v1/templates/warm-counter/from-sandbox", {
      sandboxId: source.sandboxId,
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const version = (await res.json()) as TemplateVersionInfo;
    expect(version.snapshot?.sourceSandboxId).toBe(source.sandboxId);
    expect(version.snapshot?.memoryBytes).toBeGreaterThan(0);
    // The source goes on and can even go away: the template does not depend on it.
    await source.kill();

    const [a, b] = await Promise.all([
      Sandbox.create({ ...opts(), template: "warm-counter" }),
      Sandbox.create({ ...opts(), template: "warm-counter" }),
    ]);
    try {
      expect(a.sandboxId).not.toBe(b.sandboxId);
      // The first exec finds the server already running, with the value it had in memory.
      const [valueA, countA] = await get(a);
      const [valueB, countB] = await get(b);
      expect(valueA).toBe(value);
      expect(valueB).toBe(value);
      expect(Number(countA)).toBe(Number(countBefore) + 1);
      expect(Number(countB)).toBe(Number(countBefore) + 1);
      // Then they diverge: each has its own memory.
      await get(a);
      expect(Number((await get(a))[1])).toBe(Number(countBefore) + 3);
      expect(Number((await get(b))[1])).toBe(Number(countBefore) + 2);
      expect((await a.files.read("/home/user/notes.txt")).toString()).toBe("written before the snapshot\n");
      // Each sandbox has its own address.
      const ipOf = async (sb: Sandbox) => (await sb.commands.run("hostname -I")).stdout.trim();
      expect(await ipOf(a)).not.toBe(await ipOf(b));
    } finally {
      await a.kill();
      await b.kill();
    }
  });

  it("answers 400 for an fs checkpoint and 404 for an unknown sandbox", async () => {
    const sb = await Sandbox.create(opts());
    try {
      const ck = await sb.checkpoints.create({ mode: "fs", wait: true });
      const fsOnly = await server.request("POST", "/v1/templates/nomem/from-sandbox", {
        sandboxId: sb.sandboxId,
        checkpointId: ck.id,
      });
      expect(fsOnly.status).toBe(400);
      const unknown = await server.request("POST", "/v1/templates/nomem/from-sandbox", {
        sandboxId: "sb_unknownunknownunkno",
      });
      expect(unknown.status).toBe(404);
    } finally {
      await sb.kill();
    }
  });
});
