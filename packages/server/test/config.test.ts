import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";

describe("loadConfig", () => {
  it("uses embedded defaults", () => {
    const c = loadConfig({ HOME: "/home/x" });
    expect(c.port).toBe(7070);
    expect(c.host).toBe("127.0.0.1");
    expect(c.templatesDir).toBe(`${c.dataDir}/templates`);
  });

  it("honours BURROW_PORT, BURROW_HOST and BURROW_DATA_DIR", () => {
    const c = loadConfig({ BURROW_PORT: "8080", BURROW_HOST: "0.0.0.0", BURROW_DATA_DIR: "/srv/burrow" });
    expect(c).toMatchObject({
      port: 8080,
      host: "0.0.0.0",
      dataDir: "/srv/burrow",
      templatesDir: "/srv/burrow/templates",
    });
  });

  it("rejects a port that is not a number instead of reading NaN", () => {
    expect(() => loadConfig({ BURROW_PORT: "80a" })).toThrowError(/BURROW_PORT/);
    expect(() => loadConfig({ BURROW_PORT: "70000" })).toThrowError(/≤ 65535/);
  });

  it("reads BURROW_METRICS_TOKEN and refuses one too short to be a secret", () => {
    expect(loadConfig({ BURROW_METRICS_TOKEN: "0123456789abcdef" }).metricsToken).toBe("0123456789abcdef");
    expect(loadConfig({}).metricsToken).toBeUndefined();
    expect(() => loadConfig({ BURROW_METRICS_TOKEN: "short" })).toThrow(/BURROW_METRICS_TOKEN must be at least 16/);
  });

  it("reads BURROW_WARM_POOL per template and tag; `name` and `name:latest` are one pool", () => {
    expect(loadConfig({ HOME: "/h" }).warmPool).toEqual({ base: 2 });
    expect(loadConfig({ BURROW_WARM_POOL: "" }).warmPool).toEqual({});
    expect(loadConfig({ BURROW_WARM_POOL: "base=2,myapp=1,myapp:dev-2=3,py:latest=1" }).warmPool).toEqual({
      base: 2,
      myapp: 1,
      "myapp:dev-2": 3,
      py: 1,
    });
    for (const bad of ["base", "base=x", "Base=1", "app:=1", "app:a/b=1", "base=1,", "tv_aaaaaaaaaaaaaaaaaaaa:x:y=1"]) {
      expect(() => loadConfig({ BURROW_WARM_POOL: bad }), bad).toThrowError(/BURROW_WARM_POOL/);
    }
  });
});
