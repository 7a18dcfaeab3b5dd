import { DEFAULT_LIFECYCLE } from "@burrow/core";
import { getSignature } from "e2b";
import { describe, expect, it } from "vitest";
import { e2bEgressPolicy } from "../src/app/e2b/network.js";
import { filesSignature } from "../src/app/e2b/sandbox-plane.js";
import { parseE2bMetadataFilter, parseListQuery, parseNewSandbox } from "../src/app/e2b/schemas.js";
import {
  e2bState,
  endAtOf,
  onTimeoutOf,
  policyFor,
  timeoutMsOf,
  timeoutSecondsToMs,
  withTimeout,
} from "../src/app/e2b/wire.js";

describe("E2B timeout mapping", () => {
  it("kill: deleted after the timeout idle, never frozen before", () => {
    const policy = policyFor("kill", 60_000, DEFAULT_LIFECYCLE);
    expect(policy).toEqual({ standbyAfterMs: 0, hibernateAfterMs: 600_000, deleteAfterMs: 60_000 });
    expect(onTimeoutOf(policy)).toBe("kill");
    expect(timeoutMsOf(policy)).toBe(60_000);
    expect(withTimeout(policy, 5_000)).toEqual({ deleteAfterMs: 5_000 });
  });

  it("pause: frozen after the timeout idle, hibernated later, never deleted", () => {
    const policy = policyFor("pause", 60_000, DEFAULT_LIFECYCLE);
    expect(policy).toEqual({ standbyAfterMs: 60_000, hibernateAfterMs: 600_000, deleteAfterMs: 0 });
    expect(onTimeoutOf(policy)).toBe("pause");
    expect(withTimeout(policy, 5_000)).toEqual({ standbyAfterMs: 5_000 });
    // Burrow's own default policy reads as pause-on-timeout with a 15 s timeout.
    expect(onTimeoutOf(DEFAULT_LIFECYCLE)).toBe("pause");
    expect(timeoutMsOf(DEFAULT_LIFECYCLE)).toBe(15_000);
  });

  it("counts the timeout from the last activity; 0 never ends", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(endAtOf(policyFor("kill", 60_000, DEFAULT_LIFECYCLE), 10_000, now)).toBe("2026-01-01T00:00:50.000Z");
    expect(endAtOf({ standbyAfterMs: 0, hibernateAfterMs: 0, deleteAfterMs: 0 }, 0, now)).toMatch(/^9999-/);
    expect(timeoutSecondsToMs(0)).toBe(1_000);
    expect(timeoutSecondsToMs(2.2)).toBe(3_000);
  });

  it("shows sleeping and failed sandboxes as paused", () => {
    expect(["starting", "running", "waking"].map((s) => e2bState(s as "running"))).toEqual([
      "running",
      "running",
      "running",
    ]);
    expect(["standby", "hibernating", "hibernated", "error"].map((s) => e2bState(s as "running"))).toEqual([
      "paused",
      "paused",
      "paused",
      "paused",
    ]);
  });
});

describe("E2B request parsing", () => {
  it("decodes the SDK's doubly encoded metadata filter", () => {
    // What the e2b SDK sends for { "with space": "a=b&c", team: "x" }.
    const inner = new URLSearchParams({ [encodeURIComponent("with space")]: encodeURIComponent("a=b&c"), team: "x" });
    const url = new URL(`http://x/v2/sandboxes?metadata=${encodeURIComponent(inner.toString())}`);
    expect(parseE2bMetadataFilter(url)).toEqual({ "with space": "a=b&c", team: "x" });
  });

  it("parses list queries and refuses bad ones", () => {
    const q = parseListQuery(new URL("http://x/v2/sandboxes?state=paused&limit=5&order=asc"));
    expect([...q.states]).toEqual(["paused"]);
    expect(q.limit).toBe(5);
    expect(q.order).toBe("asc");
    expect([...parseListQuery(new URL("http://x/v2/sandboxes")).states].sort()).toEqual(["paused", "running"]);
    expect(() => parseListQuery(new URL("http://x/v2/sandboxes?state=sleeping"))).toThrow(/state/);
    expect(() => parseListQuery(new URL("http://x/v2/sandboxes?limit=1000"))).toThrow(/limit/);
    expect(() => parseListQuery(new URL("http://x/v2/sandboxes?nextToken=garbage"))).toThrow(/nextToken/);
  });

  it("refuses settings it cannot honour instead of ignoring them", () => {
    expect(parseNewSandbox({ templateID: "base", network: { allowPublicTraffic: true } }).templateID).toBe("base");
    expect(() => parseNewSandbox({ network: { rules: { "api.example.com": [] } } })).toThrow(/network.rules.*secrets/);
    expect(() => parseNewSandbox({ network: { egressProxy: { address: "p:1080" } } })).toThrow(/network.egressProxy/);
    expect(parseNewSandbox({ allow_internet_access: true, network: { denyOut: ["0.0.0.0/0"] } }).templateID).toBe(
      "base",
    );
    expect(parseNewSandbox({ volumeMounts: [{ name: "v", path: "/v" }] }).volumeMounts).toEqual([
      { name: "v", path: "/v" },
    ]);
    expect(() => parseNewSandbox({ volumeMounts: [{ name: "v" }] })).toThrow(/volumeMounts/);
    expect(() => parseNewSandbox({ timeout: -1 })).toThrow(/timeout/);
  });
});

describe("E2B egress settings", () => {
  it("map to a Burrow policy, allowOut winning over denyOut as in E2B", () => {
    expect(e2bEgressPolicy(undefined, undefined)).toBeUndefined();
    expect(e2bEgressPolicy(true, {})).toEqual({ default: "allow", allow: [], deny: [] });
    expect(e2bEgressPolicy(false, { allowOut: ["api.example.com"] })).toEqual({
      default: "deny",
      allow: ["api.example.com"],
      deny: [],
    });
    expect(
      e2bEgressPolicy(undefined, { allowOut: ["1.1.1.1", "*.x.test"], denyOut: ["0.0.0.0/0", "8.8.8.8"] }),
    ).toEqual({ default: "deny", allow: ["1.1.1.1/32", "*.x.test"], deny: [] });
    expect(e2bEgressPolicy(undefined, { denyOut: ["10.0.0.0/8"] })).toEqual({
      default: "allow",
      allow: [],
      deny: ["10.0.0.0/8"],
    });
    expect(() => e2bEgressPolicy(undefined, { allowOut: ["ok.test", "bad host"] })).toThrow(/network.allowOut\[1\]/);
    expect(() => e2bEgressPolicy(undefined, { denyOut: ["10.0.0.0/40"] })).toThrow(/network.denyOut\[0\]/);
  });
});

describe("signed /files URLs", () => {
  it("signs exactly like the e2b SDK", async () => {
    const plain = await getSignature({ path: "/a b.txt", operation: "read", user: "user", envdAccessToken: "tok" });
    expect(filesSignature("/a b.txt", "read", "user", "tok", null)).toBe(plain.signature);
    const expiring = await getSignature({
      path: "/x",
      operation: "write",
      user: undefined,
      expirationInSeconds: 60,
      envdAccessToken: "tok",
    });
    expect(filesSignature("/x", "write", "", "tok", String(expiring.expiration))).toBe(expiring.signature);
  });
});
