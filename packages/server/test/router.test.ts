import { describe, expect, it } from "vitest";
import { Router } from "../src/app/router.js";

describe("Router", () => {
  const router = new Router();
  const noop = () => {};
  router.add("GET", "/v1/sandboxes/:id", noop);
  router.add("*", "/v1/sandboxes/:id/envd/*", noop);
  router.add("GET", "/v1/health", noop, { public: true });

  it("captures path params", () => {
    const m = router.match("GET", "/v1/sandboxes/sb_abc");
    expect(m && "params" in m ? m.params : null).toEqual({ id: "sb_abc" });
  });

  it("captures the rest of the path with its leading slash", () => {
    const m = router.match("POST", "/v1/sandboxes/sb_abc/envd/process.Process/Start");
    expect(m && "params" in m ? m.params : null).toEqual({ id: "sb_abc", rest: "/process.Process/Start" });
  });

  it("reports allowed methods when only the path matches", () => {
    expect(router.match("DELETE", "/v1/health")).toEqual({ allowed: ["GET"] });
  });

  it("does not match unknown paths or partial segments", () => {
    expect(router.match("GET", "/v1/healthz")).toBeNull();
    expect(router.match("GET", "/v1/sandboxes/a/b")).toBeNull();
  });
});
