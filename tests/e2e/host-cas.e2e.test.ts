import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Sandbox } from "@burrow/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeInternet, startFakeInternet } from "./fixtures/fake-internet-netns.mjs";
import { startTestServer, type TestServer } from "./harness.js";
import { sh } from "./sandbox-shell.js";

// A host behind a TLS-inspecting proxy trusts the proxy's CA, added under
// /usr/local/share/ca-certificates. Here the "inspecting proxy" is the fake internet's HTTPS
// server, whose certificate no public CA signed, and the host's CA directory is one this test
// owns (BURROW_HOST_CA_DIR): the real one is never touched.
describe("sandboxes trust the CAs the host added", () => {
  let internet: FakeInternet;
  let caDir: string;
  const servers: TestServer[] = [];

  beforeAll(async () => {
    internet = await startFakeInternet();
    caDir = mkdtempSync("/tmp/bt-host-cas-");
    mkdirSync(join(caDir, "corp"));
    copyFileSync(internet.certPath, join(caDir, "corp", "inspecting-proxy.crt"));
  }, 60_000);

  afterAll(async () => {
    for (const s of servers) await s.dispose();
    internet?.stop();
    rmSync(caDir, { recursive: true, force: true });
  });

  async function sandboxOn(env: Record<string, string>): Promise<Sandbox> {
    const server = await startTestServer(undefined, { env: { BURROW_DNS_UPSTREAM: internet.dns, ...env } });
    servers.push(server);
    return Sandbox.create({ apiUrl: server.url, apiKey: server.apiKey });
  }

  it("curl, Python and Node verify a site signed by the host's added CA (on by default)", async () => {
    const sandbox = await sandboxOn({ BURROW_HOST_CA_DIR: caDir });
    const expected = "secure hello host=allowed.test";
    const curl = await sh(sandbox, "curl -sS -m 10 https://allowed.test/");
    expect(curl.stdout).toContain(expected);
    const python = await sh(
      sandbox,
      `python3 -c "import urllib.request; print(urllib.request.urlopen('https://allowed.test/', timeout=10).read().decode())"`,
    );
    expect(python.stdout).toContain(expected);
    const node = await sh(
      sandbox,
      `node -e "fetch('https://allowed.test/').then(r => r.text()).then(t => console.log(t), e => { console.log('ERR', e.cause?.code ?? e); process.exit(1) })"`,
    );
    expect(node.stdout).toContain(expected);
    await sandbox.kill();
  });

  it("with BURROW_TRUST_HOST_CAS=0 the same fetch fails verification", async () => {
    const sandbox = await sandboxOn({ BURROW_HOST_CA_DIR: caDir, BURROW_TRUST_HOST_CAS: "0" });
    const curl = await sh(sandbox, "curl -sS -m 10 https://allowed.test/");
    expect(curl.exitCode).toBe(60); // CURLE_PEER_FAILED_VERIFICATION
    await sandbox.kill();
  });
});
