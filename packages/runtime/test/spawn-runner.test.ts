import { readFileSync, writeFileSync } from "node:fs";
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

  it("hands output to onOutput as it arrives, before the command ends, and still returns all of it", async () => {
    const events: string[] = [];
    // The command waits for a file that onOutput creates: it ends only if its first line arrived early.
    const flag = `/tmp/burrow-spawn-${process.pid}-${Date.now()}`;
    const result = await new SpawnRunner().run(
      ["sh", "-c", `echo first; while [ ! -e ${flag} ]; do sleep 0.05; done; rm -f ${flag}; echo second >&2`],
      {
        timeoutMs: 20_000,
        onOutput: (chunk, stream) => {
          events.push(`${stream}:${chunk.trim()}`);
          if (chunk.includes("first")) writeFileSync(flag, "");
        },
      },
    );
    events.push("done");
    expect(result.timedOut).toBe(false);
    expect(events).toEqual(["stdout:first", "stderr:second", "done"]);
    expect(result.stdout).toBe("first\n");
    expect(result.stderr).toBe("second\n");
  });

  it("still kills a command that outlives its timeout", async () => {
    const result = await new SpawnRunner().run(["sleep", "30"], { timeoutMs: 200 });
    expect(result.timedOut).toBe(true);
  });
});
