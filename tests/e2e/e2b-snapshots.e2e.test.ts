import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Sandbox, SandboxNotFoundError } from "e2b";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";

/** A server that keeps a random value, made at its start, in memory only. */
const VALUE_SERVER = `import http.server, os, socketserver
value = os.urandom(8).hex().encode()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", str(len(value))); self.end_headers(); self.wfile.write(value)
    def log_message(self, *a): pass
socketserver.TCPServer.allow_reuse_address = True
socketserver.TCPServer(("0.0.0.0", 8124), H).serve_forever()
`;

const VALUE = "curl -sf http://127.0.0.1:8124/";

// E2B snapshots and forks (issues #12 item 6, #13 item 3) with the official e2b SDK, real gVisor.
describe("e2b SDK snapshots and forks against Burrow", () => {
  let server: TestServer;
  let key: string;
  const opts = () => ({ apiKey: key, apiUrl: server.url, sandboxUrl: server.url });

  beforeAll(async () => {
    server = await startTestServer();
    key = readFileSync(join(server.dataDir, "e2b-api-key"), "utf8").trim();
  });

  afterAll(async () => {
    await server?.dispose();
  });

  async function startValueServer(sandbox: Sandbox): Promise<string> {
    await sandbox.files.write("/home/user/value.py", VALUE_SERVER);
    await sandbox.commands.run("python3 /home/user/value.py", { background: true, timeoutMs: 0 });
    for (let i = 0; i < 100; i++) {
      const out = await sandbox.commands.run(VALUE).catch(() => undefined);
      if (out?.stdout.match(/^[0-9a-f]{16}$/)) return out.stdout;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error("the value server did not start");
  }

  it("createSnapshot, listSnapshots (paged, by sandbox and name), Sandbox.create(snapshotId) with memory, deleteSnapshot", async () => {
    const source = await Sandbox.create(opts());
    const made: Sandbox[] = [];
    try {
      await source.files.write("/home/user/notes.txt", "before the snapshot\n");
      const value = await startValueServer(source);

      const named = await source.createSnapshot({ name: "e2b-snap" });
      expect(named).toEqual({ snapshotId: "e2b-snap:latest", names: ["e2b-snap:latest"] });
      const unnamed = await Sandbox.createSnapshot(source.sandboxId, opts());
      expect(unnamed.snapshotId).toMatch(/^snapshot_[a-z2-7]{20}:latest$/);
      // The snapshots' own checkpoints are not left in the source's checkpoint list.
      const cks = await server.request("GET", `/v1/sandboxes/${source.sandboxId}/checkpoints`);
      expect(((await cks.json()) as { checkpoints: unknown[] }).checkpoints).toEqual([]);

      // Paged one at a time, oldest first; filtered by the source sandbox and by name.
      const pager = Sandbox.listSnapshots({ ...opts(), sandboxId: source.sandboxId, limit: 1 });
      const pages: string[][] = [];
      while (pager.hasNext) pages.push((await pager.nextItems()).map((s) => s.snapshotId));
      expect(pages).toEqual([[named.snapshotId], [unnamed.snapshotId]]);
      const byName = await Sandbox.listSnapshots({ ...opts(), name: "e2b-snap" }).nextItems();
      expect(byName.map((s) => s.snapshotId)).toEqual([named.snapshotId]);
      expect((await source.listSnapshots().nextItems()).length).toBe(2);
      // A name that is a template built otherwise is not turned into a snapshot.
      await expect(source.createSnapshot({ name: "base" })).rejects.toThrow(/409.*not a snapshot template/);

      await source.kill();
      // A sandbox from the snapshot: the source's files, and its server running with the same memory.
      const restored = await Sandbox.create(named.snapshotId, opts());
      made.push(restored);
      expect(restored.sandboxId).not.toBe(source.sandboxId);
      expect((await restored.commands.run(VALUE)).stdout).toBe(value);
      expect(await restored.files.read("/home/user/notes.txt")).toBe("before the snapshot\n");

      // In use: not deleted (409); once its sandbox is gone, deleted, and then not found.
      await expect(Sandbox.deleteSnapshot(named.snapshotId, opts())).rejects.toThrow(/409/);
      await restored.kill();
      expect(await Sandbox.deleteSnapshot(named.snapshotId, opts())).toBe(true);
      expect(await Sandbox.deleteSnapshot(named.snapshotId, opts())).toBe(false);
      expect(await Sandbox.deleteSnapshot(unnamed.snapshotId, opts())).toBe(true);
      expect(await Sandbox.listSnapshots(opts()).nextItems()).toEqual([]);
      await expect(Sandbox.create(named.snapshotId, opts())).rejects.toThrow(/not found/);
    } finally {
      for (const sb of [source, ...made]) await sb.kill().catch(() => undefined);
    }
  }, 240_000);

  it("sandbox.fork and Sandbox.fork: count forks with the source's files and the timeout asked; a killed sandbox is not found", async () => {
    const source = await Sandbox.create(opts());
    const forks: Sandbox[] = [];
    try {
      await source.files.write("/home/user/fork-me.txt", "from the source\n");
      const results = await source.fork({ count: 2, timeoutMs: 120_000 });
      for (const r of results) if (r instanceof Sandbox) forks.push(r);
      expect(forks.length).toBe(2);
      expect(new Set([source.sandboxId, ...forks.map((f) => f.sandboxId)]).size).toBe(3);
      for (const fork of forks) {
        expect(await fork.files.read("/home/user/fork-me.txt")).toBe("from the source\n");
        const info = await fork.getInfo();
        const left = info.endAt.getTime() - Date.now();
        expect(left).toBeGreaterThan(60_000);
        expect(left).toBeLessThanOrEqual(120_000);
      }
      // Each fork is its own sandbox: a write in one is not seen by the other or the source.
      await forks[0]?.files.write("/home/user/only-fork0.txt", "x");
      expect(await forks[1]?.files.exists("/home/user/only-fork0.txt")).toBe(false);
      expect(await source.files.exists("/home/user/only-fork0.txt")).toBe(false);

      const [single] = await Sandbox.fork(source.sandboxId, opts());
      expect(single).toBeInstanceOf(Sandbox);
      if (single instanceof Sandbox) forks.push(single);

      await source.kill();
      await expect(Sandbox.fork(source.sandboxId, opts())).rejects.toBeInstanceOf(SandboxNotFoundError);
    } finally {
      for (const sb of [source, ...forks]) await sb.kill().catch(() => undefined);
    }
  }, 180_000);
});
