import { describe, expect, it } from "vitest";
import { type ConfigSources, resolveConfig } from "../src/config.js";

function sources(env: Record<string, string>, files: Record<string, string> = {}): ConfigSources {
  return { env, homeDir: "/home/me", readFile: async (path) => files[path] };
}

describe("resolveConfig", () => {
  it("prefers options, then BURROW_* env vars", async () => {
    const env = { BURROW_API_URL: "http://env:1/", BURROW_API_KEY: "env-key" };
    const fromOpts = await resolveConfig({ apiUrl: "https://opt:2", apiKey: "opt-key" }, sources(env));
    expect(fromOpts).toMatchObject({ apiUrl: "https://opt:2", apiKey: "opt-key", apiKeySource: "option" });
    const fromEnv = await resolveConfig({}, sources(env));
    expect(fromEnv).toMatchObject({ apiUrl: "http://env:1", apiKey: "env-key", apiKeySource: "env" });
  });

  it("defaults to localhost and the admin-key file", async () => {
    const cfg = await resolveConfig({}, sources({}, { "/home/me/.burrow/admin-key": "file-key\n" }));
    expect(cfg).toMatchObject({
      apiUrl: "http://127.0.0.1:7070",
      apiKey: "file-key",
      apiKeySource: "file",
      requestTimeoutMs: 60_000,
    });
  });

  it("looks for the admin key under BURROW_DATA_DIR", async () => {
    const cfg = await resolveConfig({}, sources({ BURROW_DATA_DIR: "/srv/burrow" }, { "/srv/burrow/admin-key": "k" }));
    expect(cfg).toMatchObject({ apiKey: "k", adminKeyPath: "/srv/burrow/admin-key" });
  });

  it("works without a key or a filesystem (browsers)", async () => {
    const cfg = await resolveConfig({}, { env: {}, homeDir: undefined, readFile: undefined });
    expect(cfg).toMatchObject({ apiKey: undefined, apiKeySource: "none", adminKeyPath: undefined });
  });

  it("rejects bad values instead of guessing", async () => {
    await expect(resolveConfig({ apiUrl: "localhost:7070" }, sources({}))).rejects.toMatchObject({
      code: "bad_request",
    });
    await expect(resolveConfig({ requestTimeoutMs: Number.NaN }, sources({}))).rejects.toThrow(RangeError);
  });
});
