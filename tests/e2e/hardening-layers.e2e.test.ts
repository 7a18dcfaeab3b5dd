import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Sandbox } from "@burrow/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";

const SECRET = "HOST-ONLY-SECRET-7c1f";

/** Makes a chain of `depth` directories named d below `dir` in the sandbox, with a file f at the bottom. */
const DEEP_PY = (dir: string, depth: number) =>
  `python3 -c 'import os\nos.chdir("${dir}")\nfor i in range(${depth}):\n    os.mkdir("d"); os.chdir("d")\nopen("f","w").write("deep\\n")'`;
/** Prints the content of the file at the bottom of that chain (or "missing"). */
const READ_DEEP_PY = (dir: string, depth: number) =>
  `python3 -c 'import os\nos.chdir("${dir}")\ntry:\n    [os.chdir("d") for i in range(${depth})]\n    print(open("f").read(), end="")\nexcept OSError:\n    print("missing")'`;

// Host-side access to a sandbox's own layer: no read outside it through ?path= or links the
// sandbox swaps in, and trees of any depth (issue 11 items 1, 2, 8 and 14).
describe("hardening: layers", () => {
  let server: TestServer;
  let hostDir: string;
  const opts = () => ({ apiUrl: server.url, apiKey: server.apiKey });
  const diff = (id: string, from: string, path?: string) =>
    server.request(
      "GET",
      `/v1/sandboxes/${id}/checkpoints/diff?from=${from}&to=now${path === undefined ? "" : `&path=${encodeURIComponent(path)}`}`,
    );

  beforeAll(async () => {
    server = await startTestServer();
    // A root-only host file outside the data dir, as an attacker's target.
    hostDir = mkdtempSync("/tmp/burrow-hostsecret-");
    writeFileSync(join(hostDir, "secret"), `${SECRET}\n`, { mode: 0o600 });
    chmodSync(hostDir, 0o700);
  });

  afterAll(async () => {
    try {
      await server?.dispose();
    } finally {
      if (hostDir) rmSync(hostDir, { recursive: true, force: true });
    }
  });

  it("diff ?path= with '..' cannot read a host file: 4xx, never its content", async () => {
    const sandbox = await Sandbox.create(opts());
    try {
      const ck = await sandbox.checkpoints.create();
      await sandbox.commands.run("echo hi > /home/user/zz");
      const up = "../".repeat(30);
      for (const path of [
        `home/user/zz/${up}${hostDir.slice(1)}/secret`,
        `/home/user/zz/${up}${hostDir.slice(1)}/secret`,
        `zz/${up}${hostDir.slice(1)}/secret`,
        `${hostDir.slice(1)}/secret`,
        "home/user/./zz",
      ]) {
        const res = await diff(sandbox.sandboxId, ck.id, path);
        const body = await res.text();
        expect(body).not.toContain(SECRET);
        expect(res.status, `${path}: ${body}`).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
      }
      // The file itself still diffs.
      const ok = await diff(sandbox.sandboxId, ck.id, "/home/user/zz");
      expect(ok.status).toBe(200);
      expect(((await ok.json()) as { unified: string }).unified).toContain("+hi");
    } finally {
      await sandbox.kill();
    }
  });

  it("a directory the sandbox keeps swapping with a link to a host directory never yields host content, and diffs of a changing tree never fail", async () => {
    const sandbox = await Sandbox.create(opts());
    try {
      const ck = await sandbox.checkpoints.create();
      // x flips between a real directory (holding `secret`) and a link to the host directory,
      // while files come and go in churn/.
      const swap = await sandbox.commands.run(
        `mkdir -p /home/user/race /home/user/churn; cd /home/user/race; while true; do rm -rf x; mkdir x; echo inside > x/secret; sleep 0.003; rm -rf x; ln -s ${hostDir} x; sleep 0.003; for i in 1 2 3 4 5 6 7 8; do echo $i > /home/user/churn/f$i; done; rm -f /home/user/churn/*; done`,
        { background: true },
      );
      try {
        let inside = 0;
        for (let i = 0; i < 40; i++) {
          const res = await diff(sandbox.sandboxId, ck.id, "/home/user/race/x/secret");
          const body = await res.text();
          expect(body).not.toContain(SECRET);
          expect(res.status, body).toBeLessThan(500);
          if (res.status === 200 && body.includes("+inside")) inside++;
          const all = await diff(sandbox.sandboxId, ck.id);
          const listing = await all.text();
          expect(all.status, listing).toBe(200);
          expect(listing).not.toContain(SECRET);
        }
        // The race was real: some diffs saw the directory.
        expect(inside).toBeGreaterThan(0);
      } finally {
        await swap.kill();
      }
    } finally {
      await sandbox.kill();
    }
  });

  it("a directory 2 100 levels deep made by the sandbox user: checkpoint, diff, restore, fork and delete all work", async () => {
    const depth = 2100;
    const sandbox = await Sandbox.create(opts());
    const forkIds: string[] = [];
    try {
      const ck0 = await sandbox.checkpoints.create();
      await sandbox.commands.run(DEEP_PY("/home/user", depth), { user: "user" });
      const ck = await sandbox.checkpoints.create({ name: "deep" });
      const changes = await sandbox.checkpoints.diff(ck0.id, "now");
      const deepPath = `/home/user/${Array.from({ length: depth }, () => "d").join("/")}/f`;
      expect(changes.entries.some((e) => e.path === deepPath && e.change === "added")).toBe(true);
      const text = await sandbox.checkpoints.diff(ck0.id, "now", { path: deepPath });
      expect(text.unified).toContain("+deep");

      await sandbox.commands.run("rm -rf /home/user/d", { user: "user" });
      await sandbox.checkpoints.restore(ck.id);
      expect((await sandbox.commands.run(READ_DEEP_PY("/home/user", depth))).stdout).toBe("deep\n");

      const fork = await sandbox.checkpoints.fork(ck.id);
      forkIds.push(...fork.sandboxIds);
      const forked = await Sandbox.connect(fork.sandboxIds[0] as string, opts());
      expect((await forked.commands.run(READ_DEEP_PY("/home/user", depth))).stdout).toBe("deep\n");
      // The fork's own checkpoint sees the deep tree in its base, and deleting the fork works.
      await forked.checkpoints.create();
      await forked.kill();
      forkIds.length = 0;
      expect(existsSync(join(server.dataDir, "sandboxes", fork.sandboxIds[0] as string))).toBe(false);
    } finally {
      for (const id of forkIds) await Sandbox.kill(id, opts()).catch(() => undefined);
      await sandbox.kill();
    }
    const res = await server.request("GET", `/v1/sandboxes/${sandbox.sandboxId}`);
    expect([404, 200]).toContain(res.status);
    if (res.status === 200) expect(((await res.json()) as { state: string }).state).toBe("deleted");
    expect(existsSync(join(server.dataDir, "sandboxes", sandbox.sandboxId))).toBe(false);
  });
});
