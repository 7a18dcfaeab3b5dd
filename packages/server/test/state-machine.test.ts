import { describe, expect, it } from "vitest";
import { assertTransition, canTransition } from "../src/services/state-machine.js";

describe("sandbox state table", () => {
  it("allows the lifecycle's forward path", () => {
    expect(canTransition("starting", "running")).toBe(true);
    expect(canTransition("running", "deleting")).toBe(true);
    expect(canTransition("deleting", "deleted")).toBe(true);
  });

  it("lets failed and running sandboxes be deleted but never revives a deleted one", () => {
    expect(canTransition("error", "deleting")).toBe(true);
    expect(canTransition("deleted", "running")).toBe(false);
    expect(canTransition("deleted", "deleting")).toBe(false);
    expect(canTransition("error", "running")).toBe(false);
  });

  it("throws a conflict naming both states", () => {
    expect(() => assertTransition("sb_x", "deleted", "running")).toThrowError(/deleted to running/);
  });
});
