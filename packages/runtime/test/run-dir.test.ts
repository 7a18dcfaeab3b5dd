import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readAgentLog, upgradeBundle, writeAgentToken } from "../src/run-dir.js";

// The host side of a sandbox's run dir, which root in the sandbox can change: nothing is followed.
describe("sandbox run dir", () => {
  let dir: string;
  let run: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "burrow-run-"));
    run = join(dir, "run");
    mkdirSync(run, { mode: 0o777 });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("writes the token root-only and replaces a planted link instead of writing through it", async () => {
    const victim = join(dir, "host-file");
    writeFileSync(victim, "host data");
    symlinkSync(victim, join(run, "token"));
    await writeAgentToken(run, "tok-1");
    expect(readFileSync(victim, "utf8")).toBe("host data");
    expect(lstatSync(join(run, "token")).isFile()).toBe(true);
    expect(readFileSync(join(run, "token"), "utf8")).toBe("tok-1");
    expect(statSync(join(run, "token")).mode & 0o777).toBe(0o600);
    expect(statSync(run).mode & 0o777).toBe(0o755);
  });

  it("reads the agent's log but not through a link", async () => {
    writeFileSync(join(run, "agent.log"), "line 1\nserving on tcp\n");
    expect(await readAgentLog(run)).toContain("serving on tcp");
    rmSync(join(run, "agent.log"));
    const secret = join(dir, "secret");
    writeFileSync(secret, "host secret");
    symlinkSync(secret, join(run, "agent.log"));
    expect(await readAgentLog(run)).toBe("");
  });

  it("moves the token of an older release's bundle out of the agent's environment", async () => {
    const bundle = join(dir, "bundle");
    mkdirSync(bundle);
    const spec = { process: { args: ["/opt/burrow/bin/burrow-agent"], env: ["PATH=/bin", "BURROW_AGENT_TOKEN=old"] } };
    writeFileSync(join(bundle, "config.json"), JSON.stringify(spec));
    await upgradeBundle(bundle);
    const after = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8")) as typeof spec;
    expect(after.process.env).toEqual(["PATH=/bin"]);
    expect(after.process.args).toEqual(["/opt/burrow/bin/burrow-agent", "--token-file", "/opt/burrow/run/token"]);
  });
});
