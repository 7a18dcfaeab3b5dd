import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { SpawnRunner } from "../src/spawn-runner.js";

/** Field 6 of /proc/<pid>/stat: the session id. */
function sessionOf(pid: number | "self"): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[3]);
}

describe("SpawnRunner", () => {
  it("runs commands in a session of their own, away from the server's process group signals", async () => {
    const result = await new SpawnRunner().run(["sh", "-c", "cut -d' ' -f6 /proc/$$/stat; echo $$"], {
      timeoutMs: 10_000,
    });
    expect(result.exitCode).toBe(0);
    const [sid, pid] = result.stdout.trim().split("\n").map(Number);
    expect(sid).toBe(pid); // the child leads its own session
    expect(sid).not.toBe(sessionOf("self"));
  });

  it("still kills a command that outlives its timeout", async () => {
    const result = await new SpawnRunner().run(["sleep", "30"], { timeoutMs: 200 });
    expect(result.timedOut).toBe(true);
  });
});
