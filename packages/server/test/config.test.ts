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
});
