import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { lockNetworkPrefix } from "@burrow/runtime";
import { Sandbox } from "@burrow/sdk";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { prefixCandidates, runscContainers, startTestServer, type TestServer, waitForPool } from "./harness.js";
import { sh } from "./sandbox-shell.js";

const opts = (server: TestServer) => ({ apiUrl: server.url, apiKey: server.apiKey });
const ownIp = async (sandbox: Sandbox) => (await sh(sandbox, "hostname -I")).stdout.trim().split(" ")[0] as string;
const prefixOf = (dataDir: string) => readFileSync(join(dataDir, "network-prefix"), "utf8").trim();
const ip = (...args: string[]) => execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
const mountsUnder = (dir: string) =>
  readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .filter((l) => (l.split(" ")[1] ?? "").startsWith(`${dir}/`));

/** A sandbox id nobody has: "sb_" and 20 base32 characters. */
function strayId(): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  return `sb_${Array.from(randomBytes(20), (b) => alphabet[b % 32]).join("")}`;
}

// Stopping and starting the server as service managers and crashes do, on one data dir.
describe("server stop and start", () => {
  it("a SIGTERM to the server's whole process group deletes the pool's sandboxes and keeps the others", async () => {
    const server = await startTestServer(undefined, { ownProcessGroup: true, env: { BURROW_WARM_POOL: "base=1" } });
    let restarted: TestServer | undefined;
    try {
      const sandbox = await Sandbox.create(opts(server));
      await waitForPool(server, 1);
      expect(runscContainers(server.dataDir)).toHaveLength(2);
      const exited = new Promise<number | null>((resolve) => server.process.once("exit", (code) => resolve(code)));
      // As Ctrl-C in a terminal or systemd's stop do: the signal goes to every process of the group.
      process.kill(-(server.process.pid as number), "SIGTERM");
      expect(await exited).toBe(0);
      expect(server.output()).not.toMatch(/burrow-shim/);
      expect(runscContainers(server.dataDir)).toEqual([sandbox.sandboxId]);
      restarted = await startTestServer(server.dataDir);
      const again = await Sandbox.connect(sandbox.sandboxId, opts(restarted));
      expect((await again.commands.run("echo adopted")).stdout).toBe("adopted\n");
      // Nothing of either sandbox is left once the adopted one is deleted.
      expect(await again.kill()).toBe(true);
      expect(runscContainers(server.dataDir)).toEqual([]);
      expect(mountsUnder(server.dataDir)).toEqual([]);
      expect(ip("netns", "list")).not.toContain(`burrow-${sandbox.sandboxId}`);
      expect(ip("-4", "-o", "addr", "show")).not.toMatch(
        new RegExp(`inet ${prefixOf(server.dataDir).replace(".", "\\.")}\\.`),
      );
    } finally {
      await (restarted ?? server).dispose();
    }
  });

  it("reaps at start what dead sandboxes left on its data dir and prefix; a new sandbox on such an address works", async () => {
    const server = await startTestServer();
    const dir = server.dataDir;
    const stray = strayId();
    const strayIf = `bw${stray.slice(3, 16)}`;
    let restarted: TestServer | undefined;
    let route = "";
    try {
      const x = await Sandbox.create(opts(server));
      const y = await Sandbox.create(opts(server));
      const xIp = await ownIp(x);
      await server.stop("SIGKILL");
      // x's row goes: the server no longer knows x, and all x had on the host is left behind.
      const db = new Database(join(dir, "burrow.db"));
      for (const table of ["events", "sandboxes"]) {
        db.prepare(`DELETE FROM ${table} WHERE ${table === "events" ? "sandbox_id" : "id"} = ?`).run(x.sandboxId);
      }
      db.close();
      // A namespace and veth a crash mid-create left on this prefix, and a stray route on it.
      const prefix = prefixOf(dir);
      route = `${prefix}.9.0/30`;
      ip("netns", "add", `burrow-${stray}`);
      ip("link", "add", strayIf, "type", "veth", "peer", "name", "eth0", "netns", `burrow-${stray}`);
      ip("addr", "add", `${prefix}.0.29/30`, "dev", strayIf);
      ip("link", "set", strayIf, "up");
      ip("route", "add", route, "dev", "lo");

      restarted = await startTestServer(dir);
      const log = restarted.output();
      for (const reaped of [
        `runsc sandbox ${x.sandboxId}`,
        `mount ${dir}/sandboxes/${x.sandboxId}/rootfs`,
        `directory ${dir}/sandboxes/${x.sandboxId}`,
        `netns burrow-${x.sandboxId}`,
        `veth ${strayIf}`,
        `netns burrow-${stray}`,
        `route ${route} dev lo`,
      ]) {
        expect(log).toContain(reaped);
      }
      expect(runscContainers(dir)).toEqual([y.sandboxId]);
      expect(mountsUnder(dir).join("\n")).not.toContain(x.sandboxId);
      expect(ip("netns", "list")).not.toMatch(new RegExp(`${x.sandboxId}|${stray}`));
      expect(ip("-4", "route", "show")).not.toContain(route);
      const again = await Sandbox.connect(y.sandboxId, opts(restarted));
      expect((await again.commands.run("echo adopted")).stdout).toBe("adopted\n");
      // The lowest free address is x's old one: the new sandbox gets it and answers.
      const z = await Sandbox.create(opts(restarted));
      expect(await ownIp(z)).toBe(xIp);
      expect((await z.commands.run("echo fresh")).stdout).toBe("fresh\n");
    } finally {
      for (const args of [
        ["route", "del", route, "dev", "lo"],
        ["link", "del", strayIf],
        ["netns", "del", `burrow-${stray}`],
      ]) {
        if (args[2] === "") continue;
        try {
          ip(...args);
        } catch {}
      }
      await (restarted ?? server).dispose();
    }
  });

  it("refuses to start on a prefix another live server holds; the harness takes a free one", async () => {
    const server = await startTestServer();
    const refusedDir = mkdtempSync("/tmp/bt-");
    const freeDir = mkdtempSync("/tmp/bt-");
    let other: TestServer | undefined;
    const first = prefixCandidates(freeDir)[0] as string;
    const held = first === prefixOf(server.dataDir) ? undefined : await lockNetworkPrefix(first, "this test");
    try {
      const prefix = prefixOf(server.dataDir);
      const refused = await startTestServer(refusedDir, { env: { BURROW_NETWORK_PREFIX: prefix } }).then(
        () => "started",
        (err: unknown) => String(err),
      );
      expect(refused).toContain(`the sandbox network prefix ${prefix} is in use by another Burrow server`);
      expect(refused).toContain(server.dataDir);
      // The harness skips prefixes whose lock is held (here its first pick for this data dir).
      other = await startTestServer(freeDir);
      expect([prefix, first]).not.toContain(prefixOf(freeDir));
      const sandbox = await Sandbox.create(opts(other));
      expect((await sandbox.commands.run("echo ok")).stdout).toBe("ok\n");
    } finally {
      held?.release();
      await other?.dispose();
      await server.dispose();
      rmSync(refusedDir, { recursive: true, force: true });
    }
  });
});
