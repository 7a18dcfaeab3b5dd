import { request } from "node:http";
import { Sandbox } from "@burrow/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliMain, runNode, startTestServer, type TestServer } from "./harness.js";
import { upgradeEcho } from "./upgrade-echo.js";

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request to the server with a chosen Host (preview hosts need no DNS this way). */
function get(server: TestServer, host: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const { port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, headers: { ...headers, Host: host } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        body += d;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Answers every request with the path and headers it got, as JSON. */
const ECHO_SERVER = `python3 -c '
import json, http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path, "headers": dict(self.headers)}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), H).serve_forever()
'`;

/** Accepts one upgrade on 8001 and echoes bytes back. */
const UPGRADE_ECHO = `python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 8001)); s.listen(1)
c, _ = s.accept(); c.recv(4096)
c.sendall(b"HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: echo\\r\\nConnection: Upgrade\\r\\n\\r\\n")
while True:
    d = c.recv(4096)
    if not d: break
    c.sendall(d)
'`;

async function until(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("condition not met in time");
}

// Preview URLs with real gVisor: private by default, tokens, public, 502 JSON, WebSocket, wake.
describe("preview URLs", () => {
  let server: TestServer;
  let sandbox: Sandbox;
  let other: Sandbox;
  const opts = () => ({ apiUrl: server.url, apiKey: server.apiKey });

  beforeAll(async () => {
    server = await startTestServer();
    sandbox = await Sandbox.create({ ...opts(), lifecycle: { standbyAfterMs: 0, hibernateAfterMs: 0 } });
    other = await Sandbox.create(opts());
    await sandbox.commands.run(ECHO_SERVER, { background: true, timeoutMs: 0 });
    await until(async () =>
      (await sandbox.commands.run("curl -sf http://127.0.0.1:8000/ >/dev/null && echo ok")).stdout.includes("ok"),
    );
  });

  afterAll(async () => {
    await server?.dispose();
  });

  it("keeps ports private until a preview's token is shown, and never passes the token on", async () => {
    const host = sandbox.getHost(8000);
    expect(host).toBe(`8000-${sandbox.sandboxId}.localhost:${new URL(server.url).port}`);
    const denied = await get(server, host, "/");
    expect(denied.status).toBe(401);
    expect(JSON.parse(denied.body)).toMatchObject({
      error: "preview_token_required",
      sandboxId: sandbox.sandboxId,
      port: 8000,
    });

    const preview = await sandbox.previews.create(8000);
    expect(preview.public).toBe(false);
    expect(preview.host).toBe(host);
    const token = preview.token as string;
    expect(token).toMatch(/^bpt_/);

    const byHeader = await get(server, host, "/a?x=1", { "X-Burrow-Preview-Token": token });
    expect(byHeader.status).toBe(200);
    const seen = JSON.parse(byHeader.body) as { path: string; headers: Record<string, string> };
    expect(seen.path).toBe("/a?x=1");
    expect(JSON.stringify(seen.headers)).not.toContain(token);
    expect(seen.headers.Host ?? seen.headers.host).toBe(host);

    // In the query (what a browser opens): served, the token stripped, and a cookie set for the next requests.
    const byQuery = await get(server, host, `/page?burrow_token=${token}&y=2`);
    expect(byQuery.status).toBe(200);
    expect((JSON.parse(byQuery.body) as { path: string }).path).toBe("/page?y=2");
    const cookie = String(byQuery.headers["set-cookie"]).split(";")[0] as string;
    expect(cookie).toBe(`burrow_preview=${token}`);
    const byCookie = await get(server, host, "/next", { Cookie: `${cookie}; theme=dark` });
    expect(byCookie.status).toBe(200);
    const cookieSeen = JSON.parse(byCookie.body) as { headers: Record<string, string> };
    expect(cookieSeen.headers.Cookie ?? cookieSeen.headers.cookie).toBe("theme=dark");

    // The E2B headers route the same way, and the same rules apply.
    const { port } = new URL(server.url);
    const viaHeaders = await get(server, `127.0.0.1:${port}`, "/", {
      "E2b-Sandbox-Id": sandbox.sandboxId,
      "E2b-Sandbox-Port": "8000",
      "X-Burrow-Preview-Token": token,
    });
    expect(viaHeaders.status).toBe(200);
    // The owner's API key opens every port.
    expect((await get(server, host, "/", { "X-API-Key": server.apiKey })).status).toBe(200);

    expect((await get(server, host, "/", { "X-Burrow-Preview-Token": "bpt_wrong" })).status).toBe(401);
    const otherToken = (await other.previews.create(8000)).token as string;
    const mismatch = await get(server, host, "/", { "X-Burrow-Preview-Token": otherToken });
    expect(mismatch.status).toBe(403);
    expect(JSON.parse(mismatch.body).error).toBe("preview_token_mismatch");
    // A token for another port of the same sandbox does not open this one.
    const port9000 = (await sandbox.previews.create(9000)).token as string;
    expect((await get(server, host, "/", { "X-Burrow-Preview-Token": port9000 })).status).toBe(403);

    const listed = await sandbox.previews.list();
    expect(listed.previews.map((p) => p.port).sort()).toEqual([8000, 9000]);
    expect(listed.previews.every((p) => p.token === undefined)).toBe(true);
    await sandbox.previews.delete(preview.id);
    expect((await get(server, host, "/", { "X-Burrow-Preview-Token": token })).status).toBe(401);
  });

  it("public previews need no token; expired ones stop working; bad input is a 4xx", async () => {
    const publicPreview = await sandbox.previews.create(8000, { public: true });
    expect(publicPreview.token).toBeUndefined();
    expect(publicPreview.url).toBe(`http://${sandbox.getHost(8000)}/`);
    expect((await get(server, sandbox.getHost(8000), "/")).status).toBe(200);
    await sandbox.previews.delete(publicPreview.id);
    expect((await get(server, sandbox.getHost(8000), "/")).status).toBe(401);

    const short = await sandbox.previews.create(8000, { expiresInMs: 3000 });
    expect(
      (await get(server, sandbox.getHost(8000), "/", { "X-Burrow-Preview-Token": short.token as string })).status,
    ).toBe(200);
    // Waits until just past the expiry the server reported (3 s leaves room for a slow first request).
    await new Promise((r) => setTimeout(r, Date.parse(short.expiresAt as string) - Date.now() + 100));
    expect(
      (await get(server, sandbox.getHost(8000), "/", { "X-Burrow-Preview-Token": short.token as string })).status,
    ).toBe(401);

    const badPort = await server.request("POST", `/v1/sandboxes/${sandbox.sandboxId}/previews`, { port: 70000 });
    expect(badPort.status).toBe(400);
    expect(((await badPort.json()) as { error: { code: string } }).error.code).toBe("validation_failed");
    const unknownSandbox = await server.request("POST", "/v1/sandboxes/sb_aaaaaaaaaaaaaaaaaaaa/previews", { port: 80 });
    expect(unknownSandbox.status).toBe(404);
    const badHost = await get(server, `0-${sandbox.sandboxId}.localhost`, "/");
    expect(badHost.status).toBe(400);
  });

  it("answers 502 JSON naming the sandbox and port when nothing listens", async () => {
    await sandbox.previews.create(8999, { public: true });
    const closed = await get(server, sandbox.getHost(8999), "/");
    expect(closed.status).toBe(502);
    expect(JSON.parse(closed.body)).toMatchObject({
      sandboxId: sandbox.sandboxId,
      port: 8999,
      error: "port_unreachable",
    });
  });

  it("carries WebSocket-style upgrades both ways", async () => {
    const echo = await sandbox.commands.run(UPGRADE_ECHO, { background: true, timeoutMs: 0 });
    const token = (await sandbox.previews.create(8001)).token as string;
    const { port } = new URL(server.url);
    // The echo server accepts one connection: try the upgrade until it listens (502 before).
    const upgradeOnce = () =>
      upgradeEcho(
        `http://127.0.0.1:${port}/ws`,
        { Host: sandbox.getHost(8001), "X-Burrow-Preview-Token": token },
        "ping through the preview",
      );
    let echoed = "";
    await until(async () => {
      echoed = await upgradeOnce();
      return true;
    });
    expect(echoed).toBe("ping through the preview");
    await echo.kill().catch(() => undefined);
  });

  it("wakes a hibernated sandbox on a preview request; the CLI prints a URL", async () => {
    const preview = await sandbox.previews.create(8000, { public: true });
    await sandbox.hibernate();
    expect((await Sandbox.getInfo(sandbox.sandboxId, opts())).state).toBe("hibernated");
    const woke = await get(server, preview.host, "/after-wake");
    expect(woke.status).toBe(200);
    expect((JSON.parse(woke.body) as { path: string }).path).toBe("/after-wake");
    expect((await Sandbox.getInfo(sandbox.sandboxId, opts())).state).toBe("running");

    const cli = await runNode([cliMain, "url", sandbox.sandboxId, "8000"], server.clientEnv);
    expect(cli.code).toBe(0);
    const printed = new URL(cli.stdout.trim());
    expect(printed.host).toBe(sandbox.getHost(8000));
    const viaCli = await get(server, printed.host, `${printed.pathname}${printed.search}`);
    expect(viaCli.status).toBe(200);
  });
});
