import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { Sandbox } from "@burrow/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";

const PREFIX = "10.189";
const AGENT_PORT = 49983;

/**
 * Something else on this host holding the address of a sandbox network: a namespace of this
 * test's own with a veth whose host end has `hostIp/30`, and inside it an HTTP server that
 * answers like another sandbox's agent (health 204, /init refused for a token it does not hold).
 */
async function startImpostor(hostIp: string, sandboxIp: string): Promise<() => void> {
  const tag = randomBytes(4).toString("hex");
  const ns = `bxt-${tag}`;
  const hostIf = `bxt${tag}`;
  execFileSync("ip", ["netns", "add", ns]);
  let server: ChildProcess | undefined;
  const stop = () => {
    if (server?.pid !== undefined && server.exitCode === null) process.kill(server.pid, "SIGKILL");
    execFileSync("ip", ["link", "del", hostIf], { stdio: "ignore" });
    execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" });
  };
  try {
    execFileSync("ip", ["link", "add", hostIf, "type", "veth", "peer", "name", "eth0", "netns", ns]);
    execFileSync("ip", ["addr", "add", `${hostIp}/30`, "dev", hostIf]);
    execFileSync("ip", ["link", "set", hostIf, "up"]);
    execFileSync("ip", ["-n", ns, "addr", "add", `${sandboxIp}/30`, "dev", "eth0"]);
    execFileSync("ip", ["-n", ns, "link", "set", "eth0", "up"]);
    const script = `require("node:http").createServer((req, res) => {
      if (req.url === "/health") { res.writeHead(204); return res.end(); }
      res.writeHead(401, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ code: "unauthenticated", message: "changing the agent's settings needs the current access token in X-Access-Token" }));
    }).listen(${AGENT_PORT}, "${sandboxIp}", () => console.log("ready"));`;
    server = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    await new Promise<void>((resolve, reject) => {
      server?.stdout?.once("data", () => resolve());
      server?.once("exit", (code) => reject(new Error(`impostor exited ${code}`)));
    });
    return stop;
  } catch (err) {
    stop();
    throw err;
  }
}

// Issue 11, item 11: a fork (or any create) given an address another interface on the host
// holds talked to the other holder's agent and failed with "refused init (401)".
describe("a sandbox network address held elsewhere on the host", () => {
  let server: TestServer;
  const opts = () => ({ apiUrl: server.url, apiKey: server.apiKey });

  beforeAll(async () => {
    server = await startTestServer(undefined, { env: { BURROW_NETWORK_PREFIX: PREFIX } });
  });

  afterAll(async () => {
    await server?.dispose();
  });

  it("checkpoint → change → diff → restore → fork: the fork is refused with a clear conflict, then works", async () => {
    const sandbox = await Sandbox.create(opts());
    await sandbox.files.write("/home/user/app.txt", "one\n");
    const ck = await sandbox.checkpoints.create({ name: "before" });
    await sandbox.files.write("/home/user/app.txt", "two\n");
    const diff = await sandbox.checkpoints.diff(ck.id, "now");
    expect(diff.entries.map((e) => e.path)).toContain("/home/user/app.txt");
    await sandbox.checkpoints.restore(ck.id);
    // The next free network is index 1 (the sandbox holds index 0): host .5, sandbox .6.
    const stopImpostor = await startImpostor(`${PREFIX}.0.5`, `${PREFIX}.0.6`);
    try {
      const refused = await sandbox.checkpoints.fork(ck.id).then(
        () => null,
        (err: unknown) => err as Error & { code?: string },
      );
      expect(refused?.message).toMatch(/already on host interface bxt/);
      expect(refused?.message).not.toMatch(/401/);
      expect(refused?.code).toBe("conflict");
    } finally {
      stopImpostor();
    }
    const fork = await sandbox.checkpoints.fork(ck.id);
    const forked = await Sandbox.connect(fork.sandboxIds[0] as string, opts());
    expect(await forked.files.read("/home/user/app.txt")).toBe("one\n");
    await forked.kill();
    await sandbox.kill();
  });
});
