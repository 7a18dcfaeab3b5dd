import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CommandExitError, Sandbox } from "e2b";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

const BOOT_ID = "cat /proc/sys/kernel/random/boot_id";

// E2B compatibility, round two (issue #13): the official `e2b` SDK against a real server and runsc.
describe("e2b SDK against Burrow: compatibility round two", () => {
  let server: TestServer;
  let key: string;
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
  });

  afterAll(async () => {
    await server?.dispose();
  });

  it("keeps file metadata on write, writeFiles, list, getInfo and rename, clears it on overwrite, keeps it across pause", async () => {
    const sandbox = await Sandbox.create(opts());
    try {
      const dir = "/home/user/meta";
      const written = await sandbox.files.write(`${dir}/a.txt`, "a", { metadata: { team: "infra" } });
      expect(written.metadata).toEqual({ team: "infra" });
      const many = await sandbox.files.write(
        [
          { path: `${dir}/b.txt`, data: "b" },
          { path: `${dir}/c.txt`, data: "c" },
        ],
        { metadata: { batch: "1" } },
      );
      expect(many.map((f) => f.metadata)).toEqual([{ batch: "1" }, { batch: "1" }]);
      expect((await sandbox.files.getInfo(`${dir}/a.txt`)).metadata).toEqual({ team: "infra" });
      const listed = await sandbox.files.list(dir);
      expect(Object.fromEntries(listed.map((e) => [e.name, e.metadata]))).toEqual({
        "a.txt": { team: "infra" },
        "b.txt": { batch: "1" },
        "c.txt": { batch: "1" },
      });
      await sandbox.files.rename(`${dir}/a.txt`, `${dir}/renamed.txt`);
      expect((await sandbox.files.getInfo(`${dir}/renamed.txt`)).metadata).toEqual({ team: "infra" });
      await sandbox.files.rename(dir, "/home/user/meta2");
      expect((await sandbox.files.getInfo("/home/user/meta2/b.txt")).metadata).toEqual({ batch: "1" });
      await sandbox.files.write("/home/user/meta2/b.txt", "overwritten");
      expect((await sandbox.files.getInfo("/home/user/meta2/b.txt")).metadata).toBeUndefined();

      expect(await sandbox.pause({ keepMemory: false })).toBe(true);
      const resumed = await Sandbox.connect(sandbox.sandboxId, opts());
      expect((await resumed.files.getInfo("/home/user/meta2/renamed.txt")).metadata).toEqual({ team: "infra" });
      // gVisor keeps no user.* xattrs on the root filesystem (nor /tmp, a directory of it); tmpfs mounts do.
      const xattr = (p: string) =>
        `python3 -c "import os; open('${p}','w'); os.setxattr('${p}','user.k',b'v'); print(os.getxattr('${p}','user.k'))"`;
      expect((await resumed.commands.run(xattr("/dev/shm/x"))).stdout.trim()).toBe("b'v'");
      const rootfs = await resumed.commands.run(xattr("/home/user/x")).catch((e: unknown) => e);
      expect(rootfs).toBeInstanceOf(CommandExitError);
      expect((rootfs as CommandExitError).stderr).toMatch(/Operation not supported/);
    } finally {
      await Sandbox.kill(sandbox.sandboxId, opts());
    }
  });

  it("pause({keepMemory: false}) keeps the files and connect boots the sandbox afresh", async () => {
    const sandbox = await Sandbox.create(opts());
    try {
      const bootBefore = (await sandbox.commands.run(BOOT_ID)).stdout.trim();
      await sandbox.files.write("/home/user/kept.txt", "kept");
      const sleeper = await sandbox.commands.run("sleep 600", { background: true, timeoutMs: 0 });
      expect(await sandbox.pause({ keepMemory: false })).toBe(true);
      expect((await sandbox.getInfo()).state).toBe("paused");

      const resumed = await Sandbox.connect(sandbox.sandboxId, opts());
      expect((await resumed.getInfo()).state).toBe("running");
      expect(await resumed.files.read("/home/user/kept.txt")).toBe("kept");
      expect((await resumed.commands.run(BOOT_ID)).stdout.trim()).not.toBe(bootBefore);
      expect((await resumed.commands.list()).map((p) => p.pid)).not.toContain(sleeper.pid);

      // A later pause that keeps memory resumes with the processes again.
      const bootNow = (await resumed.commands.run(BOOT_ID)).stdout.trim();
      const second = await resumed.commands.run("sleep 600", { background: true, timeoutMs: 0 });
      expect(await resumed.pause()).toBe(true);
      const again = await Sandbox.connect(sandbox.sandboxId, opts());
      expect((await again.commands.run(BOOT_ID)).stdout.trim()).toBe(bootNow);
      expect((await again.commands.list()).map((p) => p.pid)).toContain(second.pid);
    } finally {
      await Sandbox.kill(sandbox.sandboxId, opts());
    }
  });

  it("lifecycle onTimeout {action: 'pause', keepMemory: false}: paused on timeout, afresh on connect", async () => {
    const sandbox = await Sandbox.create({
      ...opts(),
      timeoutMs: 1_000,
      lifecycle: { onTimeout: { action: "pause", keepMemory: false } },
    });
    try {
      const bootBefore = (await sandbox.commands.run(BOOT_ID)).stdout.trim();
      await sandbox.files.write("/home/user/kept.txt", "kept");
      expect(await until(async () => (await sandbox.getInfo()).state === "paused", 15_000)).toBe(true);
      const resumed = await Sandbox.connect(sandbox.sandboxId, { ...opts(), timeoutMs: 60_000 });
      expect((await resumed.commands.run(BOOT_ID)).stdout.trim()).not.toBe(bootBefore);
      expect(await resumed.files.read("/home/user/kept.txt")).toBe("kept");
    } finally {
      await Sandbox.kill(sandbox.sandboxId, opts());
    }
  });

  it("connect with a shorter timeout leaves endAt alone; a longer one moves it later", async () => {
    const sandbox = await Sandbox.create({ ...opts(), timeoutMs: 300_000 });
    try {
      const before = (await sandbox.getInfo()).endAt.getTime();
      await new Promise((r) => setTimeout(r, 1_100));
      await Sandbox.connect(sandbox.sandboxId, { ...opts(), timeoutMs: 60_000 });
      expect((await sandbox.getInfo()).endAt.getTime()).toBe(before);
      await Sandbox.connect(sandbox.sandboxId, { ...opts(), timeoutMs: 600_000 });
      const after = (await sandbox.getInfo()).endAt.getTime();
      expect(after).toBeGreaterThan(before);
      expect(after - Date.now()).toBeGreaterThan(550_000);
    } finally {
      await Sandbox.kill(sandbox.sandboxId, opts());
    }
  });

  it("answers unknown E2B routes in E2B's error shape, and E2B's texts for a gone sandbox and an expired signature", async () => {
    for (const path of ["/sandboxes/x/nothing", "/v2/sandboxes/x/nothing", "/v3/nothing", "/volumes/v1/nothing"]) {
      const res = await api("GET", path);
      expect(res.status).toBe(404);
      const body = (await res.json()) as { code: number; message: string };
      expect(body).toMatchObject({ code: 404, message: expect.stringContaining("Burrow does not serve") });
    }
    const wrongMethod = await api("PATCH", "/v2/sandboxes");
    expect((await wrongMethod.json()) as unknown).toMatchObject({ code: 400, message: expect.any(String) });
    // Burrow's own API keeps its own shape.
    const own = (await (await server.request("GET", "/v1/nothing")).json()) as { error?: { code: string } };
    expect(own.error?.code).toBe("not_found");

    // The SDK turns an E2B-shaped body into a readable message (not "[object Object]").
    const sandbox = await Sandbox.create(opts());
    try {
      await expect(sandbox.files.read("/tmp/none")).rejects.toThrow(/not.*exist|not found/i);
      const url = await sandbox.downloadUrl("/etc/hostname", { useSignatureExpiration: 1 });
      await new Promise((r) => setTimeout(r, 2_100));
      const expired = await fetch(url);
      expect(expired.status).toBe(401);
      expect(await expired.text()).toContain("signature is already expired");
    } finally {
      await Sandbox.kill(sandbox.sandboxId, opts());
    }
    const gone = await fetch(`${server.url}/health`, {
      headers: { "E2b-Sandbox-Id": sandbox.sandboxId, "E2b-Sandbox-Port": "49983" },
    });
    expect(gone.status).toBe(502);
    expect(await gone.json()).toMatchObject({ code: 502, message: "The sandbox was not found" });
  });

  it("allowPublicTraffic: false wants the traffic token on every port; maskRequestHost sets the Host sent on", async () => {
    const sandbox = await Sandbox.create({
      ...opts(),
      // biome-ignore lint/suspicious/noTemplateCurlyInString: E2B's literal placeholder
      network: { allowPublicTraffic: false, maskRequestHost: "app.internal:${PORT}" },
    });
    try {
      expect(sandbox.trafficAccessToken).toMatch(/^e2b_tat_/);
      const info = await sandbox.getInfo();
      // biome-ignore lint/suspicious/noTemplateCurlyInString: E2B's literal placeholder
      expect(info.network).toMatchObject({ allowPublicTraffic: false, maskRequestHost: "app.internal:${PORT}" });
      // The agent's port needs only its own token: the SDK works as before.
      await sandbox.commands.run(
        `python3 -c '
import http.server, json
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
http.server.HTTPServer(("0.0.0.0", 8080), H).serve_forever()
'`,
        { background: true },
      );
      const port = { "E2b-Sandbox-Id": sandbox.sandboxId, "E2b-Sandbox-Port": "8080" };
      const token = sandbox.trafficAccessToken ?? "";
      let res: Response | undefined;
      await until(async () => {
        res = await fetch(`${server.url}/`, { headers: { ...port, "e2b-traffic-access-token": token } });
        return res.status === 200;
      }, 10_000);
      expect(res?.status).toBe(200);
      const seen = (await res?.json()) as Record<string, string>;
      expect(seen.host).toBe("app.internal:8080");
      expect(seen["e2b-traffic-access-token"]).toBeUndefined();

      const without = await fetch(`${server.url}/`, { headers: port });
      expect(without.status).toBe(403);
      expect(await without.json()).toMatchObject({
        code: 403,
        message: expect.stringContaining("e2b-traffic-access-token"),
      });
      const wrong = await fetch(`${server.url}/`, {
        headers: { ...port, "e2b-traffic-access-token": "e2b_tat_wrong" },
      });
      expect(wrong.status).toBe(403);
      // connect hands the token out again.
      expect((await Sandbox.connect(sandbox.sandboxId, opts())).trafficAccessToken).toBe(token);
    } finally {
      await Sandbox.kill(sandbox.sandboxId, opts());
    }
    const bad = await Sandbox.create({ ...opts(), network: { maskRequestHost: "bad host/x" } }).catch(
      (e: unknown) => e,
    );
    expect(String((bad as Error).message)).toMatch(/400.*network\.maskRequestHost/);
  });
});
