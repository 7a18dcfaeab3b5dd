import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { substituteHeaders } from "@burrow/egress";
import { caLayer, SANDBOX_CA_BUNDLE_PATH, SANDBOX_CA_PATH } from "@burrow/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadSecretsKey, SecretCipher } from "../src/secrets/secret-cipher.js";
import { SecretService } from "../src/secrets/secret-service.js";
import { openDb } from "../src/store/db.js";
import { SqliteSecretStore } from "../src/store/secret-store.js";
import { type FakeServer, startFakeServer } from "./fake-server.js";

describe("secret substitution", () => {
  const lookup = (name: string) => (name === "TOKEN" ? "s3cr3t-value" : undefined);

  it("replaces bound placeholders in header values, Basic credentials included", () => {
    const basic = Buffer.from("bot:{{secret:TOKEN}}").toString("base64");
    const { headers, used } = substituteHeaders(
      [
        "Authorization",
        "Bearer {{secret:TOKEN}}",
        "X-Both",
        "a={{secret:TOKEN}};b={{secret:TOKEN}}",
        "Proxy-Authorization",
        `Basic ${basic}`,
        "{{secret:TOKEN}}",
        "header names are left alone",
      ],
      lookup,
    );
    expect(headers[1]).toBe("Bearer s3cr3t-value");
    expect(headers[3]).toBe("a=s3cr3t-value;b=s3cr3t-value");
    expect(Buffer.from((headers[5] ?? "").replace(/^Basic /, ""), "base64").toString()).toBe("bot:s3cr3t-value");
    expect(headers[6]).toBe("{{secret:TOKEN}}");
    expect(used).toEqual(["TOKEN"]);
  });

  it("leaves placeholders of secrets not bound here as they are", () => {
    const raw = [
      "Authorization",
      "Bearer {{secret:OTHER}}",
      "X-Basic",
      `Basic ${Buffer.from("a:b").toString("base64")}`,
    ];
    const { headers, used } = substituteHeaders(raw, lookup);
    expect(headers).toEqual(raw);
    expect(used).toEqual([]);
  });
});

describe("plain-HTTP brokering", () => {
  it("gives plain-HTTP requests only the secrets whose binding allows it; HTTPS gets every bound one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "burrow-http-"));
    const db = openDb(join(dir, "burrow.db"));
    try {
      const secrets = new SecretService(new SqliteSecretStore(db), new SecretCipher(Buffer.alloc(32, 3)));
      await secrets.create("TLS_ONLY", "v-tls");
      await secrets.create("ANY", "v-any");
      const bindings = await secrets.parseBindings([
        { name: "TLS_ONLY", hosts: ["api.test"] },
        { name: "ANY", hosts: ["api.test"], allowHttp: true },
      ]);
      expect(bindings).toEqual([
        { name: "TLS_ONLY", hosts: ["api.test"] },
        { name: "ANY", hosts: ["api.test"], allowHttp: true },
      ]);
      await secrets.setBindings("sb_x", bindings);
      expect(await secrets.bindings("sb_x")).toEqual([
        { name: "ANY", hosts: ["api.test"], allowHttp: true },
        { name: "TLS_ONLY", hosts: ["api.test"] },
      ]);
      const https = await secrets.lookupFor("sb_x", "api.test");
      expect([https("TLS_ONLY"), https("ANY")]).toEqual(["v-tls", "v-any"]);
      const http = await secrets.lookupFor("sb_x", "api.test", true);
      expect([http("TLS_ONLY"), http("ANY")]).toEqual([undefined, "v-any"]);
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("secret sealing", () => {
  it("opens what it sealed, and not under another name or key", () => {
    const cipher = new SecretCipher(Buffer.alloc(32, 7));
    const sealed = cipher.seal("A", "value-1");
    expect(sealed.includes(Buffer.from("value-1"))).toBe(false);
    expect(cipher.open("A", sealed)).toBe("value-1");
    expect(() => cipher.open("B", sealed)).toThrow();
    expect(() => new SecretCipher(Buffer.alloc(32, 8)).open("A", sealed)).toThrow();
  });

  it("creates a private key file once and reads it back", () => {
    const dir = mkdtempSync(join(tmpdir(), "burrow-key-"));
    try {
      const file = join(dir, "secrets.key");
      const key = loadSecretsKey(undefined, file);
      expect(key.length).toBe(32);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(loadSecretsKey(undefined, file).equals(key)).toBe(true);
      expect(loadSecretsKey("ab".repeat(32), file).equals(Buffer.alloc(32, 0xab))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps the env a user set, and swaps only the variables bindings gave", () => {
    const first = SecretService.rebindEnv({ MINE: "x", TOKEN: "user-set" }, [{ name: "GH", hosts: ["a.test"] }]);
    expect(first).toMatchObject({ MINE: "x", TOKEN: "user-set", GH: "{{secret:GH}}" });
    expect(first.NODE_EXTRA_CA_CERTS).toBe(`/${SANDBOX_CA_PATH}`);
    expect(SecretService.rebindEnv(first, [])).toEqual({ MINE: "x", TOKEN: "user-set" });
  });
});

describe("trust store layer", () => {
  const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

  it("holds the CA file and the template's bundle with the CA appended, built once", async () => {
    const root = mkdtempSync(join(tmpdir(), "burrow-tpl-"));
    const layers = mkdtempSync(join(tmpdir(), "burrow-layers-"));
    try {
      mkdirSync(join(root, "etc/ssl/certs"), { recursive: true });
      writeFileSync(join(root, SANDBOX_CA_BUNDLE_PATH), "existing roots\n");
      // Sandboxes created at the same time share one build.
      const [layer, same] = await Promise.all([caLayer(layers, [root], pem), caLayer(layers, [root], pem)]);
      expect(same).toBe(layer);
      expect(await caLayer(layers, [root], pem)).toBe(layer);
      expect(readdirSync(layers)).toEqual([basename(layer)]);
      expect(readFileSync(join(layer, SANDBOX_CA_PATH), "utf8")).toBe(pem);
      expect(readFileSync(join(layer, SANDBOX_CA_BUNDLE_PATH), "utf8")).toBe(`existing roots\n${pem}`);
      // The template itself is untouched.
      expect(readFileSync(join(root, SANDBOX_CA_BUNDLE_PATH), "utf8")).toBe("existing roots\n");
      // A rebuilt template's new bundle gets a layer of its own.
      writeFileSync(join(root, SANDBOX_CA_BUNDLE_PATH), "new roots, longer\n");
      const rebuilt = await caLayer(layers, [root], pem);
      expect(rebuilt).not.toBe(layer);
      expect(readFileSync(join(rebuilt, SANDBOX_CA_BUNDLE_PATH), "utf8")).toBe(`new roots, longer\n${pem}`);
    } finally {
      rmSync(root, { recursive: true, force: true });
      rmSync(layers, { recursive: true, force: true });
    }
  });

  it("does not follow a symlink a template planted for the bundle", async () => {
    const root = mkdtempSync(join(tmpdir(), "burrow-tpl-"));
    const outside = mkdtempSync(join(tmpdir(), "burrow-outside-"));
    const layers = mkdtempSync(join(tmpdir(), "burrow-layers-"));
    try {
      writeFileSync(join(outside, "ca-certificates.crt"), "host secret\n");
      mkdirSync(join(root, "etc/ssl"), { recursive: true });
      symlinkSync(outside, join(root, "etc/ssl/certs"));
      const layer = await caLayer(layers, [root], pem);
      expect(readFileSync(join(layer, SANDBOX_CA_PATH), "utf8")).toBe(pem);
      expect(existsSync(join(layer, SANDBOX_CA_BUNDLE_PATH))).toBe(false);
    } finally {
      for (const d of [root, outside, layers]) rmSync(d, { recursive: true, force: true });
    }
  });
});

describe("secrets API", () => {
  let fake: FakeServer;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${fake.server.url}${path}`, {
      method,
      headers: { "X-API-Key": fake.key, "Content-Type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, text, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };

  beforeAll(async () => {
    fake = await startFakeServer();
  });
  afterAll(async () => {
    await fake.close();
  });

  it("stores secrets sealed, lists them without values, and replaces and deletes them", async () => {
    const created = await call("POST", "/v1/secrets", { name: "GITHUB_TOKEN", value: "ghp_plaintext_marker" });
    expect(created.status).toBe(201);
    expect(created.text).not.toContain("ghp_plaintext_marker");
    expect((await call("POST", "/v1/secrets", { name: "GITHUB_TOKEN", value: "x" })).json).toMatchObject({
      error: { code: "conflict" },
    });
    const list = await call("GET", "/v1/secrets");
    expect(list.json.secrets).toEqual([expect.objectContaining({ name: "GITHUB_TOKEN" })]);
    expect(list.text).not.toContain("ghp_plaintext_marker");
    expect((await call("PUT", "/v1/secrets/GITHUB_TOKEN", { value: "ghp_second_marker" })).status).toBe(200);
    // At rest only sealed: neither value is in the database files.
    for (const file of readdirSync(fake.dataDir).filter((f) => f.startsWith("burrow.db"))) {
      const bytes = readFileSync(join(fake.dataDir, file));
      expect(bytes.includes(Buffer.from("ghp_plaintext_marker"))).toBe(false);
      expect(bytes.includes(Buffer.from("ghp_second_marker"))).toBe(false);
    }
    expect((await call("DELETE", "/v1/secrets/GITHUB_TOKEN")).status).toBe(204);
    expect((await call("DELETE", "/v1/secrets/GITHUB_TOKEN")).json).toMatchObject({
      error: { code: "secret_not_found" },
    });
  });

  it("refuses bad names and values with 400", async () => {
    for (const body of [
      { name: "1BAD", value: "x" },
      { name: "OK", value: "" },
      { name: "OK", value: "line\r\nX-Injected: 1" },
      { name: "OK" },
    ]) {
      const r = await call("POST", "/v1/secrets", body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json).toMatchObject({ error: { code: "validation_failed" } });
    }
  });

  it("binds secrets at create and live, with placeholders in the env; unknown secrets are a 400", async () => {
    await call("POST", "/v1/secrets", { name: "API_KEY", value: "k-123" });
    const unknown = await call("POST", "/v1/sandboxes", {
      network: { secrets: [{ name: "NOPE", hosts: ["a.test"] }] },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.json).toMatchObject({ error: { code: "unknown_secret", details: { secret: "NOPE" } } });
    expect((await call("GET", "/v1/sandboxes")).json.sandboxes).toEqual([]);

    const badHost = await call("POST", "/v1/sandboxes", {
      network: { secrets: [{ name: "API_KEY", hosts: ["10.0.0.1"] }] },
    });
    expect(badHost.json).toMatchObject({ error: { code: "validation_failed" } });

    const sb = await call("POST", "/v1/sandboxes", {
      env: { KEEP: "1" },
      network: { secrets: [{ name: "API_KEY", hosts: ["API.example.test", "*.svc.test"] }] },
    });
    expect(sb.status).toBe(201);
    const id = sb.json.id as string;
    const network = await call("GET", `/v1/sandboxes/${id}/network`);
    expect(network.json).toEqual({
      egress: { default: "allow", allow: [], deny: [] },
      secrets: [{ name: "API_KEY", hosts: ["api.example.test", "*.svc.test"] }],
    });
    const plain = await call("PUT", `/v1/sandboxes/${id}/network`, {
      secrets: [{ name: "API_KEY", hosts: ["api.example.test"], allowHttp: true }],
    });
    expect(plain.json).toMatchObject({ secrets: [{ name: "API_KEY", hosts: ["api.example.test"], allowHttp: true }] });
    expect(
      (
        await call("PUT", `/v1/sandboxes/${id}/network`, {
          secrets: [{ name: "API_KEY", hosts: [], allowHttp: "yes" }],
        })
      ).status,
    ).toBe(400);
    const put = await call("PUT", `/v1/sandboxes/${id}/network`, { secrets: [] });
    expect(put.json).toMatchObject({ secrets: [] });
    expect(
      (await call("PUT", `/v1/sandboxes/${id}/network`, { secrets: [{ name: "NOPE", hosts: ["a.test"] }] })).status,
    ).toBe(400);
    expect((await call("DELETE", `/v1/sandboxes/${id}`)).status).toBe(204);
  });
});
