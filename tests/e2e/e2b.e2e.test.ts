import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ALL_TRAFFIC, AuthenticationError, Sandbox, SandboxNotFoundError } from "e2b";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defineEnvdCases } from "./e2b-envd-cases.js";
import { runNode, startTestServer, type TestServer } from "./harness.js";
import { upgradeEcho } from "./upgrade-echo.js";

const example = join(import.meta.dirname, "..", "..", "examples", "e2b-quickstart.mjs");

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

// The official `e2b` SDK, unchanged, against a real Burrow server with real runsc sandboxes.
describe("e2b SDK against Burrow", () => {
  let server: TestServer;
  let key: string;
  let sandbox: Sandbox;
  const opts = () => ({ apiKey: key, apiUrl: server.url, sandboxUrl: server.url });
  const api = (method: string, path: string, body?: unknown) =>
    fetch(`${server.url}${path}`, {
      method,
      headers: { "X-API-KEY": key, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  beforeAll(async () => {
    server = await startTestServer(undefined, { env: { BURROW_LIFECYCLE_TICK_MS: "100" } });
    key = readFileSync(join(server.dataDir, "e2b-api-key"), "utf8").trim();
    sandbox = await Sandbox.create({ ...opts(), metadata: { suite: "e2b" }, envs: { GREETING: "hello" } });
  });

  afterAll(async () => {
    await server?.dispose();
  });

  it("creates a sandbox that the key file's e2b_ key controls, on both APIs", async () => {
    expect(key).toMatch(/^e2b_[0-9a-f]+$/);
    const info = await sandbox.getInfo();
    expect(info).toMatchObject({
      sandboxId: sandbox.sandboxId,
      templateId: "base",
      state: "running",
      envdVersion: "0.6.4",
      metadata: { suite: "e2b" },
      lifecycle: { onTimeout: "kill", autoResume: false },
    });
    // The default timeout is 300 s, counted from the last activity.
    expect(info.endAt.getTime() - Date.now()).toBeGreaterThan(250_000);
    const burrow = await fetch(`${server.url}/v1/sandboxes/${sandbox.sandboxId}`, {
      headers: { Authorization: `Bearer ${key}` },
    });
    expect(burrow.status).toBe(200);
  });

  describe("through Burrow's sandbox plane", () => defineEnvdCases(() => sandbox, "plane"));
  describe("straight to the agent", () => {
    let owner: Sandbox | undefined;
    let direct: Sandbox;
    // The SDK's direct mode (what E2B_DEBUG does against localhost) at the agent's own address.
    // Its own sandbox: connections that bypass Burrow stay open, and would hold off a pause.
    beforeAll(async () => {
      owner = await Sandbox.create({ ...opts(), envs: { GREETING: "hello" } });
      const ip = (await owner.commands.run("hostname -I")).stdout.trim().split(" ")[0];
      direct = await Sandbox.connect(owner.sandboxId, { ...opts(), sandboxUrl: `http://${ip}:49983` });
    });
    afterAll(async () => {
      await owner?.kill();
    });
    defineEnvdCases(() => direct, "direct");
  });

  it("serves signed file URLs, with and without expiry", async () => {
    const upload = await sandbox.uploadUrl("/home/user/signed.txt", { useSignatureExpiration: 60 });
    const form = new FormData();
    form.append("file", new Blob(["signed upload"]), "signed.txt");
    expect((await fetch(upload, { method: "POST", body: form })).status).toBe(200);
    const download = await sandbox.downloadUrl("/home/user/signed.txt");
    expect(new URL(download).origin).toBe(server.url);
    expect(await (await fetch(download)).text()).toBe("signed upload");
    const forged = new URL(download);
    forged.searchParams.set("signature", "v1_forged");
    expect((await fetch(forged)).status).toBe(401);
  });

  it("reports real metrics", async () => {
    const [metric] = await sandbox.getMetrics();
    expect(metric?.cpuCount).toBeGreaterThanOrEqual(1);
    expect(metric?.memTotal).toBeGreaterThan(0);
    expect(metric?.memUsed).toBeGreaterThan(0);
    expect(metric?.diskTotal).toBeGreaterThan(0);
  });

  it("reaches any port in the sandbox, over HTTP and upgraded connections", async () => {
    const server8000 = await sandbox.commands.run("cd /home/user && python3 -m http.server 8000", { background: true });
    const echo = await sandbox.commands.run(
      `python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 8001)); s.listen(1)
c, _ = s.accept(); c.recv(4096)
c.sendall(b"HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: echo\\r\\nConnection: Upgrade\\r\\n\\r\\n")
while True:
    d = c.recv(4096)
    if not d: break
    c.sendall(d)
'`,
      { background: true },
    );
    try {
      const headers = { "E2b-Sandbox-Id": sandbox.sandboxId, "E2b-Sandbox-Port": "8000" };
      let res: Response | undefined;
      await until(async () => {
        res = await fetch(`${server.url}/`, { headers });
        return res.status === 200;
      }, 10_000);
      expect(res?.status).toBe(200);
      expect(await res?.text()).toContain("Directory listing");
      const closed = await fetch(`${server.url}/`, { headers: { ...headers, "E2b-Sandbox-Port": "8999" } });
      expect(closed.status).toBe(502);

      const echoed = await upgradeEcho(
        `${server.url}/ws`,
        { "E2b-Sandbox-Id": sandbox.sandboxId, "E2b-Sandbox-Port": "8001" },
        "ping through the proxy",
      );
      expect(echoed).toBe("ping through the proxy");
    } finally {
      await server8000.kill();
      await echo.kill();
    }
  });

  it("pauses (hibernates) and connects again with the same processes running", async () => {
    const counter = await sandbox.commands.run("i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.1; done", {
      background: true,
      timeoutMs: 0,
    });
    // The counter has run once before the pause (under load it may not have, and then the read below races it).
    expect(await until(() => sandbox.files.exists("/tmp/n"), 10_000)).toBe(true);
    expect(await sandbox.pause()).toBe(true);
    expect((await sandbox.getInfo()).state).toBe("paused");
    expect(await sandbox.isRunning()).toBe(false);
    // Pausing a paused sandbox is a 409, which the SDK reports as false.
    expect(await sandbox.pause()).toBe(false);
    const paused = await Sandbox.list({ ...opts(), query: { state: ["paused"] } }).nextItems();
    expect(paused.map((s) => s.sandboxId)).toContain(sandbox.sandboxId);

    const resumed = await Sandbox.connect(sandbox.sandboxId, opts());
    expect((await resumed.getInfo()).state).toBe("running");
    expect(await resumed.isRunning()).toBe(true);
    expect((await resumed.commands.list()).map((p) => p.pid)).toContain(counter.pid);
    const before = Number(await resumed.files.read("/tmp/n"));
    await new Promise((r) => setTimeout(r, 500));
    expect(Number(await resumed.files.read("/tmp/n"))).toBeGreaterThan(before);
    // A pause keeps kill-on-timeout suspended; connect turns it back on.
    expect((await resumed.getInfo()).lifecycle?.onTimeout).toBe("kill");
    expect((await api("POST", `/sandboxes/${sandbox.sandboxId}/resume`, {})).status).toBe(409);
    await resumed.commands.kill(counter.pid);
  });

  it("takes E2B's egress settings at create and through updateNetwork", async () => {
    const egressOf = async (id: string) =>
      ((await (await server.request("GET", `/v1/sandboxes/${id}/network`)).json()) as { egress: unknown }).egress;
    const locked = await Sandbox.create({
      ...opts(),
      network: { allowOut: ["pypi.org"], denyOut: [ALL_TRAFFIC] },
    });
    try {
      expect(await egressOf(locked.sandboxId)).toEqual({ default: "deny", allow: ["pypi.org"], deny: [] });
      await locked.updateNetwork({ allowInternetAccess: true, denyOut: ["10.0.0.0/8"] });
      expect(await egressOf(locked.sandboxId)).toEqual({ default: "allow", allow: [], deny: ["10.0.0.0/8"] });
      // The sandbox follows it: the HTTP proxy refuses the name once everything is denied.
      await locked.updateNetwork({ allowInternetAccess: false });
      const curl = "curl -s -o /dev/null -w '%{http_code}' --resolve example.com:80:192.0.2.1 http://example.com/";
      const refused = await locked.commands.run(curl, { timeoutMs: 20_000 });
      expect(refused.stdout).toBe("403");
    } finally {
      await locked.kill();
    }
  });

  it("lists by metadata, by state, and in pages", async () => {
    const other = await Sandbox.create({ ...opts(), metadata: { suite: "e2b-other", "with space": "a=b&c" } });
    try {
      const mine = await Sandbox.list({ ...opts(), query: { metadata: { suite: "e2b" } } }).nextItems();
      expect(mine.map((s) => s.sandboxId)).toEqual([sandbox.sandboxId]);
      const tricky = await Sandbox.list({ ...opts(), query: { metadata: { "with space": "a=b&c" } } }).nextItems();
      expect(tricky.map((s) => s.sandboxId)).toEqual([other.sandboxId]);
      const pager = Sandbox.list({ ...opts(), limit: 1 });
      const seen: string[] = [];
      while (pager.hasNext) seen.push(...(await pager.nextItems()).map((s) => s.sandboxId));
      expect(seen.sort()).toEqual([sandbox.sandboxId, other.sandboxId].sort());
      const legacy = (await (await api("GET", "/sandboxes")).json()) as Array<{ sandboxID: string }>;
      expect(legacy.map((s) => s.sandboxID).sort()).toEqual([sandbox.sandboxId, other.sandboxId].sort());
    } finally {
      await other.kill();
    }
  });

  it("sets the timeout, and kills or pauses a sandbox left idle that long", async () => {
    await sandbox.setTimeout(600_000);
    expect((await sandbox.getInfo()).endAt.getTime() - Date.now()).toBeGreaterThan(550_000);

    const short = await Sandbox.create({ ...opts(), timeoutMs: 1_000 });
    const killed = await until(
      () =>
        Sandbox.getInfo(short.sandboxId, opts()).then(
          () => false,
          (e: unknown) => e instanceof SandboxNotFoundError,
        ),
      10_000,
    );
    expect(killed).toBe(true);

    const napping = await Sandbox.create({ ...opts(), timeoutMs: 1_000, lifecycle: { onTimeout: "pause" } });
    try {
      await napping.files.write("/home/user/kept.txt", "kept");
      const slept = await until(async () => (await napping.getInfo()).state === "paused", 10_000);
      expect(slept).toBe(true);
      // Any request wakes it; the files were never at risk.
      expect(await napping.files.read("/home/user/kept.txt")).toBe("kept");
      expect((await napping.getInfo()).state).toBe("running");
    } finally {
      await napping.kill();
    }
  });

  it("answers the documented errors", async () => {
    const missing = "sb_aaaaaaaaaaaaaaaaaaaa";
    await expect(Sandbox.connect(missing, opts())).rejects.toBeInstanceOf(SandboxNotFoundError);
    await expect(Sandbox.getInfo("not-a-burrow-id", opts())).rejects.toBeInstanceOf(SandboxNotFoundError);
    expect(await Sandbox.kill(missing, opts())).toBe(false);
    const paused = await api("POST", `/sandboxes/${missing}/pause`);
    expect(paused.status).toBe(404);
    expect(await paused.json()).toMatchObject({ code: 404, message: expect.stringContaining(missing) });
    await expect(Sandbox.create({ ...opts(), apiKey: `e2b_${"0".repeat(40)}` })).rejects.toBeInstanceOf(
      AuthenticationError,
    );
    await expect(Sandbox.create({ ...opts(), apiKey: "not-an-e2b-key" })).rejects.toBeInstanceOf(AuthenticationError);
    const unsupported = await api("POST", "/v2/sandboxes", {
      templateID: "base",
      network: { rules: { "a.test": [] } },
    });
    expect(unsupported.status).toBe(400);
    const token = (await api("POST", `/sandboxes/${sandbox.sandboxId}/connect`, { timeout: 60 }).then((r) =>
      r.json(),
    )) as {
      envdAccessToken: string;
    };
    const noToken = await fetch(`${server.url}/process.Process/List`, {
      method: "POST",
      headers: { "E2b-Sandbox-Id": sandbox.sandboxId, "Content-Type": "application/json" },
      body: "{}",
    });
    expect(noToken.status).toBe(401);
    expect(token.envdAccessToken).toMatch(/^[0-9a-f]{48}$/);
    // Holding the agent token does not let a client re-initialise the agent (and lock the server out).
    const init = await fetch(`${server.url}/init`, {
      method: "POST",
      headers: {
        "E2b-Sandbox-Id": sandbox.sandboxId,
        "X-Access-Token": token.envdAccessToken,
        "Content-Type": "application/json",
      },
      body: JSON.stringify({ accessToken: "stolen" }),
    });
    expect(init.status).toBe(403);
    expect((await sandbox.commands.run("echo still-mine")).stdout).toBe("still-mine\n");
  });

  it("runs examples/e2b-quickstart.mjs", async () => {
    const run = await runNode([example], { E2B_API_KEY: key, E2B_API_URL: server.url, E2B_SANDBOX_URL: server.url });
    expect(run.code, `${run.stdout}${run.stderr}`).toBe(0);
    expect(run.stdout).toContain("e2b quickstart ok");
  });

  it("kills: the sandbox is gone, its health answers 502, and kill is idempotent", async () => {
    const doomed = await Sandbox.create(opts());
    expect(await doomed.kill()).toBe(true);
    expect(await doomed.kill()).toBe(false);
    expect(await doomed.isRunning()).toBe(false);
    await expect(doomed.getInfo()).rejects.toBeInstanceOf(SandboxNotFoundError);
    await expect(doomed.commands.run("true")).rejects.toThrow();
  });
});
