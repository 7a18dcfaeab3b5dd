import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { runscContainers, startTestServer } from "./harness.js";

function netnsExists(name: string): boolean {
  return execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
    .split("\n")
    .some((l) => l.split(" ")[0] === name);
}

// The harness itself: dispose() must report what a test left on the host, after removing it.
describe("e2e harness", () => {
  it("dispose() of a clean server succeeds", async () => {
    const server = await startTestServer();
    const res = await server.request("POST", "/v1/sandboxes", {});
    expect(res.status).toBe(201);
    await server.dispose();
    expect(existsSync(server.dataDir)).toBe(false);
  });

  it("dispose() fails when a sandbox's runsc container, mounts and netns are left behind, and removes them", async () => {
    const server = await startTestServer();
    const res = await server.request("POST", "/v1/sandboxes", {});
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    // A killed server leaves its sandboxes running (the next start adopts them); nobody deletes this one.
    await server.stop("SIGKILL");
    expect(runscContainers(server.dataDir)).toEqual([id]);
    expect(netnsExists(`burrow-${id}`)).toBe(true);
    const error = await server.dispose().then(
      () => null,
      (err: Error) => err,
    );
    expect(error?.message).toMatch(new RegExp(`runsc container ${id}`));
    expect(error?.message).toMatch(/mount \//);
    expect(error?.message).toMatch(new RegExp(`netns burrow-${id}`));
    expect(netnsExists(`burrow-${id}`)).toBe(false);
    expect(existsSync(server.dataDir)).toBe(false);
  });
});
