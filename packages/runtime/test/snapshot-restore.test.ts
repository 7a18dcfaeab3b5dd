import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GvisorRuntime } from "../src/gvisor-runtime.js";
import { templateRootfs, testRuntime } from "./gvisor-fixture.js";

const resources = { vcpus: 1, memoryMb: 512, pids: 512, diskMb: 512 };

// A counter that lives only in the python process's memory, starting at a random value.
const COUNTER_SERVER = [
  "import http.server, os",
  "n = [int.from_bytes(os.urandom(3), 'big')]",
  "class H(http.server.BaseHTTPRequestHandler):",
  "    def do_GET(self):",
  "        n[0] += 1",
  "        b = str(n[0]).encode()",
  "        self.send_response(200); self.send_header('Content-Length', str(len(b))); self.end_headers()",
  "        self.wfile.write(b)",
  "    def log_message(self, *a): pass",
  "http.server.HTTPServer(('127.0.0.1', 8000), H).serve_forever()",
].join("\n");

/** One request with no keep-alive (an open host connection would block a checkpoint). */
function get(host: string, port: number, path: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host, port, path, agent: false, headers: { "X-Access-Token": token }, timeout: 5000 },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

/**
 * Starts a process through the agent (envd process.Process/Start, Connect streaming), as users
 * do: a child of the agent, which a checkpoint keeps (processes of `runsc exec` are not restored).
 * The stream is closed once the start event arrives; the process keeps running.
 */
function startViaAgent(host: string, port: number, token: string, cmd: string, args: string[]): Promise<void> {
  const json = Buffer.from(JSON.stringify({ process: { cmd, args }, stdin: false }));
  const frame = Buffer.alloc(5 + json.length);
  frame.writeUInt32BE(json.length, 1);
  json.copy(frame, 5);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host,
        port,
        method: "POST",
        path: "/process.Process/Start",
        agent: false,
        headers: {
          "X-Access-Token": token,
          "Content-Type": "application/connect+json",
          "Content-Length": frame.length,
        },
      },
      (res) => {
        if (res.statusCode !== 200) reject(new Error(`process start: HTTP ${res.statusCode}`));
        res.once("data", () => {
          req.destroy();
          resolve();
        });
      },
    );
    req.on("error", reject);
    req.end(frame);
  });
}

// The runtime capability behind snapshot templates and memory forks: one memory image restored
// into several new sandboxes, each with its own id, network identity and agent token.
describe("GvisorRuntime.restoreAsNew", () => {
  let dir: string;
  let runtime: GvisorRuntime;
  const source = { id: "sb_snapsrcaaaaaaaaaaaaa", networkIndex: 1 };
  const copies = [
    { id: "sb_snapcopyb1bbbbbbbbbb", networkIndex: 2, token: "token-b" },
    { id: "sb_snapcopyc2cccccccccc", networkIndex: 3, token: "token-c" },
  ];

  beforeAll(() => {
    ({ dir, runtime } = testRuntime("bsnap-", "10.196"));
  });

  afterAll(async () => {
    for (const s of [source, ...copies]) await runtime.destroy(s.id, s.networkIndex).catch(() => undefined);
    await runtime.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const count = async (id: string): Promise<number> => {
    const r = await runtime.exec(id, ["curl", "-s", "http://127.0.0.1:8000/"]);
    return r.exitCode === 0 && /^\d+$/.test(r.stdout) ? Number(r.stdout) : Number.NaN;
  };

  it("restores running processes with their memory into new ids, addresses and tokens", async () => {
    await runtime.create({ ...source, templateLayers: [templateRootfs], resources, agentToken: "token-a" });
    const ep = runtime.agentEndpoint(source.id, source.networkIndex);
    for (let i = 0; i < 100 && (await get(ep.host, ep.port, "/health", "").catch(() => 0)) !== 204; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    await startViaAgent(ep.host, ep.port, "token-a", "python3", ["-c", COUNTER_SERVER]);
    let before = Number.NaN;
    for (let i = 0; i < 100 && Number.isNaN(before); i++) {
      before = await count(source.id);
      if (Number.isNaN(before)) await new Promise((r) => setTimeout(r, 100));
    }
    expect(before).not.toBeNaN();

    const imageDir = join(dir, "image");
    const upperSnapshot = join(dir, "upper-snapshot");
    await runtime.liveCheckpoint(source.id, source.networkIndex, imageDir, async () => {
      execFileSync("cp", ["-a", runtime.upperDir(source.id), upperSnapshot]);
    });

    await Promise.all(
      copies.map((c) =>
        runtime.restoreAsNew({
          ...c,
          templateLayers: [templateRootfs],
          resources,
          agentToken: c.token,
          imageDir,
          upperSnapshot,
        }),
      ),
    );
    // The source sandbox goes away; the image and files are all the copies need.
    await runtime.destroy(source.id, source.networkIndex);

    const [b, c] = copies.map((x) => ({ ...x, ep: runtime.agentEndpoint(x.id, x.networkIndex) }));
    if (!b || !c) throw new Error("two copies expected");
    expect(b.ep.host).not.toBe(c.ep.host);
    // Same memory: both continue the counter from the snapshot's value.
    expect(await count(b.id)).toBe(before + 1);
    expect(await count(c.id)).toBe(before + 1);
    // Then they diverge.
    expect(await count(b.id)).toBe(before + 2);
    expect(await count(b.id)).toBe(before + 3);
    expect(await count(c.id)).toBe(before + 2);

    for (const x of [b, c]) {
      // Reachable from the host at its own address, with its own token; the image's token no
      // longer works once the new one has been used.
      expect(await get(x.ep.host, x.ep.port, "/envs", x.token)).toBe(200);
      expect(await get(x.ep.host, x.ep.port, "/envs", "token-a")).toBe(401);
    }
  });
});
