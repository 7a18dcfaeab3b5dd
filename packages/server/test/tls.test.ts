import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { request } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type PeerCertificate } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { type FakeServer, startFakeServer } from "./fake-server.js";

interface Answer {
  status: number;
  body: string;
}

/** One HTTPS request to 127.0.0.1:`port`, naming `servername` in TLS and `host` in the Host header. */
function httpsGet(
  port: number,
  opts: { ca: string; servername?: string; host: string; path?: string; method?: string; headers?: object },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path: opts.path ?? "/",
        method: opts.method ?? "GET",
        ca: opts.ca,
        ...(opts.servername === undefined ? {} : { servername: opts.servername }),
        headers: { ...opts.headers, Host: opts.host },
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          body += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end(opts.method === "POST" ? JSON.stringify({ templateID: "base" }) : undefined);
  });
}

/** The certificate the server presents for `servername`, verified against `ca` (rejects when it does not verify). */
function peerCertificate(port: number, ca: string, servername: string): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, ca, servername }, () => {
      const cert = socket.getPeerCertificate();
      socket.end();
      resolve(cert);
    });
    socket.on("error", reject);
  });
}

/** Answers every request with `hello from the sandbox`: a stand-in for a service on a fake sandbox's port. */
async function helloService(): Promise<{ server: Server; port: number }> {
  const server = createServer((_req, res) => res.end("hello from the sandbox"));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return { server, port: (server.address() as AddressInfo).port };
}

const tlsPort = (fake: FakeServer) => Number(new URL(fake.server.https?.url ?? "").port);

describe("HTTPS listener with the preview CA (default)", () => {
  let fake: FakeServer;
  let ca: string;
  let service: { server: Server; port: number };
  let e2bKey: string;

  beforeAll(async () => {
    fake = await startFakeServer({ tls: { port: 0 } });
    ca = readFileSync(fake.server.https?.caPath ?? "", "utf8");
    e2bKey = readFileSync(join(fake.dataDir, "e2b-api-key"), "utf8").trim();
    service = await helloService();
  });

  afterAll(async () => {
    service?.server.close();
    await fake?.close();
  });

  it("gives E2B clients the HTTPS domain, and serves a sandbox's port at https://<port>-<id>.localhost", async () => {
    const port = tlsPort(fake);
    expect(fake.server.https?.domain).toBe(`localhost:${port}`);
    // Created over plain HTTP: the domain is the HTTPS listener's, so the SDK's getHost() is a working https URL.
    const res = await fetch(`${fake.server.url}/v2/sandboxes`, {
      method: "POST",
      headers: { "X-API-KEY": e2bKey, "Content-Type": "application/json" },
      body: JSON.stringify({ templateID: "base" }),
    });
    const sb = (await res.json()) as { sandboxID: string; domain: string };
    expect(sb.domain).toBe(`localhost:${port}`);

    const host = `${service.port}-${sb.sandboxID}.${sb.domain}`;
    const answer = await httpsGet(port, { ca, servername: host.replace(/:\d+$/, ""), host });
    expect(answer).toEqual({ status: 200, body: "hello from the sandbox" });
    const cert = await peerCertificate(port, ca, host.replace(/:\d+$/, ""));
    expect(cert.subjectaltname).toBe(`DNS:${host.replace(/:\d+$/, "")}`);

    // Plain HTTP by Host keeps working.
    const plain = await fetch(`${fake.server.url}/`, {
      headers: { "E2b-Sandbox-Id": sb.sandboxID, "E2b-Sandbox-Port": String(service.port) },
    });
    expect(await plain.text()).toBe("hello from the sandbox");
  });

  it("answers clients that send no server name (an address) with a localhost/127.0.0.1 certificate", async () => {
    const port = tlsPort(fake);
    const health = await httpsGet(port, { ca, host: `127.0.0.1:${port}`, path: "/health" });
    expect(health.status).toBe(200);
    // Over TLS, the E2B domain is the name the client called, unless that is an address.
    const byName = await httpsGet(port, {
      ca,
      servername: "localhost",
      host: `localhost:${port}`,
      path: "/v2/sandboxes",
      method: "POST",
      headers: { "X-API-KEY": e2bKey, "Content-Type": "application/json" },
    });
    expect(byName.status).toBe(201);
    expect((JSON.parse(byName.body) as { domain: string }).domain).toBe(`localhost:${port}`);
  });

  it("vouches for localhost names only", async () => {
    const port = tlsPort(fake);
    await expect(peerCertificate(port, ca, "example.com")).rejects.toThrow(/altnames|does not match/i);
    // The CA itself is constrained to localhost names and loopback addresses.
    const caText = execFileSync("openssl", ["x509", "-noout", "-text"], { input: ca }).toString();
    expect(caText).toMatch(/Name Constraints: critical/);
    expect(caText).toMatch(/DNS:localhost/);
  });

  it("keeps the preview CA across restarts (clients trust it once)", async () => {
    const before = readFileSync(join(fake.dataDir, "preview-ca", "ca.crt"), "utf8");
    expect(before).toBe(ca);
    expect(readFileSync(join(fake.dataDir, "preview-ca", "ca.key")).length).toBeGreaterThan(0);
  });
});

describe("HTTPS listener with a configured certificate", () => {
  let dir: string;
  let fake: FakeServer;
  let ca: string;
  let service: { server: Server; port: number };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "burrow-tls-"));
    const openssl = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
    openssl(
      ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        .concat(["-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=test CA", "-days", "2"])
        .concat(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"]),
    );
    openssl(
      ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        .concat(["-keyout", "tls.key", "-out", "tls.crt", "-subj", "/CN=sb.test", "-days", "2"])
        .concat(["-CA", "ca.crt", "-CAkey", "ca.key", "-addext", "subjectAltName=DNS:sb.test,DNS:*.sb.test"]),
    );
    ca = readFileSync(join(dir, "ca.crt"), "utf8");
    fake = await startFakeServer({
      tls: { port: 0, certFile: join(dir, "tls.crt"), keyFile: join(dir, "tls.key"), domain: "sb.test" },
    });
    service = await helloService();
  });

  afterAll(async () => {
    service?.server.close();
    await fake?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("presents it for the wildcard domain and hands that domain to E2B clients", async () => {
    expect(fake.server.https?.domain).toBe("sb.test");
    expect(fake.server.https?.caPath).toBeUndefined();
    const res = await fetch(`${fake.server.url}/v2/sandboxes`, {
      method: "POST",
      headers: { "X-API-KEY": fake.key, "Content-Type": "application/json" },
      body: JSON.stringify({ templateID: "base" }),
    });
    const sb = (await res.json()) as { sandboxID: string; domain: string };
    expect(sb.domain).toBe("sb.test");
    const host = `${service.port}-${sb.sandboxID}.sb.test`;
    const answer = await httpsGet(tlsPort(fake), { ca, servername: host, host });
    expect(answer).toEqual({ status: 200, body: "hello from the sandbox" });
  });
});

describe("TLS configuration", () => {
  const base = { BURROW_DATA_DIR: "/tmp/x" };
  it("listens on 7443 by default, on a free port when BURROW_PORT is 0, and not at all when off", () => {
    expect(loadConfig(base).tls).toEqual({ port: 7443 });
    expect(loadConfig({ ...base, BURROW_PORT: "0" }).tls).toEqual({ port: 0 });
    expect(loadConfig({ ...base, BURROW_TLS_PORT: "8443", BURROW_TLS_DOMAIN: "dev.localhost" }).tls).toEqual({
      port: 8443,
      domain: "dev.localhost",
    });
    expect(loadConfig({ ...base, BURROW_TLS_PORT: "off" }).tls).toBeUndefined();
  });

  it("refuses incomplete or impossible settings with a message naming the fix", () => {
    expect(() => loadConfig({ ...base, BURROW_TLS_PORT: "https" })).toThrow(/BURROW_TLS_PORT/);
    expect(() => loadConfig({ ...base, BURROW_TLS_CERT: "/c.pem" })).toThrow(/BURROW_TLS_CERT and BURROW_TLS_KEY/);
    expect(() => loadConfig({ ...base, BURROW_TLS_CERT: "/c.pem", BURROW_TLS_KEY: "/k.pem" })).toThrow(
      /BURROW_TLS_DOMAIN must name the domain/,
    );
    expect(() => loadConfig({ ...base, BURROW_TLS_DOMAIN: "burrow.example.com" })).toThrow(
      /needs BURROW_TLS_CERT and BURROW_TLS_KEY/,
    );
  });

  it("says which file it cannot read, before it starts anything", async () => {
    const dir = mkdtempSync(join(tmpdir(), "burrow-tls-"));
    try {
      const tls = { port: 0, certFile: "/nonexistent/c.pem", keyFile: "/nonexistent/k.pem", domain: "x.test" };
      await expect(startFakeServer({ tls }, dir)).rejects.toThrow(
        /cannot read BURROW_TLS_CERT \(\/nonexistent\/c.pem\)/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
