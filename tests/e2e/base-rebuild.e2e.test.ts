import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Sandbox } from "@burrow/sdk";
import { describe, expect, it } from "vitest";
import { startTestServer, type TestServer, templatesDir } from "./harness.js";
import { hibernateWhenQuiet, sh } from "./sandbox-shell.js";

/** A shell loop that keeps its count in memory and writes it to a file every 0.2 s; prints its PID. */
const COUNTER = `setsid sh -c 'i=0; while true; do i=$((i+1)); echo $i > $HOME/count; sleep 0.2; done' >/dev/null 2>&1 < /dev/null & echo $!`;
const MARKER = "/etc/burrow-base-build";

/** What scripts/build-base-template.sh does to a templates dir when it replaces `base`. */
function rebuildBase(dir: string, marker: string): void {
  mkdirSync(join(dir, ".retired"), { recursive: true });
  renameSync(join(dir, "base"), join(dir, ".retired", "base-old"));
  // The "new build": the old tree hard-linked (cheap), with its own marker and template.json.
  execFileSync("cp", ["-al", join(dir, ".retired", "base-old"), join(dir, "base")]);
  rmSync(join(dir, "base", "rootfs", MARKER.slice(1)));
  writeFileSync(join(dir, "base", "rootfs", MARKER.slice(1)), `${marker}\n`);
  const manifest = JSON.parse(readFileSync(join(dir, "base", "template.json"), "utf8")) as Record<string, string>;
  rmSync(join(dir, "base", "template.json"));
  writeFileSync(join(dir, "base", "template.json"), JSON.stringify({ ...manifest, builtAt: new Date().toISOString() }));
}

// Rebuilding the base template while sandboxes use it (the lead does it when a recipe changes):
// a sandbox hibernated on the old build wakes with its processes on the old build's files, and
// new sandboxes get the new build.
describe("rebuilding the base template", () => {
  it("keeps a hibernated sandbox on the build it was created on; new sandboxes get the new one", async () => {
    const tpl = mkdtempSync("/tmp/btpl-");
    let server: TestServer | undefined;
    try {
      execFileSync("cp", ["-al", join(templatesDir, "base"), join(tpl, "base")]);
      writeFileSync(join(tpl, "base", "rootfs", MARKER.slice(1)), "old\n");
      server = await startTestServer(undefined, { env: { BURROW_TEMPLATES_DIR: tpl } });
      const opts = () => ({ apiUrl: server?.url as string, apiKey: server?.apiKey as string });
      const sleeper = await Sandbox.create(opts());
      const pid = (await sh(sleeper, COUNTER)).stdout.trim();
      expect(pid).toMatch(/^\d+$/);
      expect((await sh(sleeper, `cat ${MARKER}`)).stdout).toBe("old\n");
      await hibernateWhenQuiet(sleeper);
      await server.stop();

      rebuildBase(tpl, "new");
      server = await server.restart();

      const woke = await Sandbox.connect(sleeper.sandboxId, opts());
      expect((await sh(woke, `kill -0 ${pid} && echo alive`)).stdout).toBe("alive\n");
      expect((await sh(woke, `cat ${MARKER}`)).stdout).toBe("old\n");
      const fresh = await Sandbox.create(opts());
      expect((await sh(fresh, `cat ${MARKER}`)).stdout).toBe("new\n");
    } finally {
      await server?.dispose();
      rmSync(tpl, { recursive: true, force: true });
    }
  }, 300_000);
});
