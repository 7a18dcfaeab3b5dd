import { Sandbox } from "@burrow/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliMain, runNode, runscContainers, startTestServer, type TestServer } from "./harness.js";

const COUNTER =
  "i=0; while true; do i=$((i+1)); echo $i >> /home/user/count.log; echo $i > /tmp/count-now; sleep 0.05; done";

function runscIds(dataDir: string): string[] {
  return runscContainers(dataDir);
}

async function counterValues(sandbox: Sandbox): Promise<number[]> {
  const text = await sandbox.files.read("/home/user/count.log");
  return text.trim().split("\n").map(Number);
}

function expectUnbroken(values: number[]): void {
  values.forEach((v, i) => {
    expect(v).toBe(i + 1);
  });
}

// Sleep and wake with real gVisor: standby (frozen), hibernation (checkpoint/restore), wake on demand.
describe("sandboxes that never die", () => {
  let server: TestServer;
  const opts = () => ({ apiUrl: server.url, apiKey: server.apiKey });

  beforeAll(async () => {
    server = await startTestServer(undefined, { env: { BURROW_LIFECYCLE_TICK_MS: "100" } });
  });

  afterAll(async () => {
    await server?.dispose();
  });

  it("a counter process survives standby and hibernation with the same PID and an unbroken count", async () => {
    const sandbox = await Sandbox.create({ ...opts(), lifecycle: { standbyAfterMs: 0 } });
    const counter = await sandbox.commands.run(COUNTER, { background: true, timeoutMs: 0 });
    await counter.disconnect();
    await new Promise((r) => setTimeout(r, 500));

    expect((await sandbox.pause()).state).toBe("standby");
    const frozenAt = (await counterValues(sandbox)).length;
    expect((await sandbox.getInfo()).state).toBe("running"); // reading a file woke it
    await sandbox.pause();
    await new Promise((r) => setTimeout(r, 400));
    expect((await sandbox.getInfo()).state).toBe("standby");

    expect((await sandbox.hibernate()).state).toBe("hibernated");
    expect(runscIds(server.dataDir)).not.toContain(sandbox.sandboxId);
    await new Promise((r) => setTimeout(r, 300));

    const pids = await sandbox.commands.list(); // wakes it: a restore
    expect(pids.map((p) => p.pid)).toContain(counter.pid);
    expect((await sandbox.getInfo()).state).toBe("running");
    await new Promise((r) => setTimeout(r, 400));
    const values = await counterValues(sandbox);
    expect(values.length).toBeGreaterThan(frozenAt);
    expectUnbroken(values);
    const types = (await sandbox.events()).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(["standby", "woken", "hibernated", "waking"]));
    await sandbox.kill();
  });

  it("keeps /tmp (in memory and on disk) and listening sockets across hibernation", async () => {
    const sandbox = await Sandbox.create({ ...opts(), lifecycle: { standbyAfterMs: 0 } });
    const web = await sandbox.commands.run(
      "cd /tmp && echo hello-from-web > index.html && python3 -m http.server 8080",
      {
        background: true,
        timeoutMs: 0,
      },
    );
    await web.disconnect();
    const fetchPage =
      "python3 -c \"import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:8080/index.html').read().decode())\"";
    for (let i = 0; i < 50; i++) {
      const ok = await sandbox.commands.run(`${fetchPage} 2>/dev/null || true`);
      if (ok.stdout.includes("hello")) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await sandbox.hibernate();
    const page = await sandbox.commands.run(fetchPage);
    expect(page.stdout.trim()).toBe("hello-from-web");
    expect((await sandbox.commands.list()).map((p) => p.pid)).toContain(web.pid);
    await sandbox.kill();
  });

  it("files survive 50 sleep/wake cycles byte for byte", async () => {
    const sandbox = await Sandbox.create({ ...opts(), lifecycle: { standbyAfterMs: 0 } });
    for (let i = 0; i < 50; i++) {
      await sandbox.files.write(`/home/user/cycle/${i}.txt`, `cycle ${i}\n`);
      if (i % 5 === 4) await sandbox.hibernate();
      else await sandbox.pause();
    }
    const listing = await sandbox.commands.run(
      "cat /home/user/cycle/*.txt | sort -V | md5sum; ls /home/user/cycle | wc -l",
    );
    const expected = Array.from({ length: 50 }, (_, i) => `cycle ${i}\n`).join("");
    const local = await sandbox.commands.run(`printf '%s' '${expected}' | md5sum`);
    const [sum, count] = listing.stdout.trim().split("\n");
    expect(count).toBe("50");
    expect(sum).toBe(local.stdout.trim());
    await sandbox.kill();
  });

  it("goes to standby by itself when idle and wakes for an SDK call and a CLI call", async () => {
    const sandbox = await Sandbox.create({ ...opts(), lifecycle: { standbyAfterMs: 300, hibernateAfterMs: 600 } });
    await sandbox.files.write("/home/user/note", "zzz");
    const deadline = Date.now() + 10_000;
    while ((await sandbox.getInfo()).state !== "hibernated" && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await sandbox.getInfo()).state).toBe("hibernated");
    expect((await sandbox.commands.run("cat /home/user/note")).stdout).toBe("zzz");

    await sandbox.pause();
    const cli = await runNode([cliMain, "exec", sandbox.sandboxId, "--", "cat", "/home/user/note"], server.clientEnv);
    expect({ code: cli.code, out: cli.stdout }).toEqual({ code: 0, out: "zzz" });
    await sandbox.kill();
  });

  it("concurrent calls to a hibernated sandbox share one restore", async () => {
    const sandbox = await Sandbox.create({ ...opts(), lifecycle: { standbyAfterMs: 0 } });
    await sandbox.hibernate();
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) => sandbox.commands.run(`echo ${i}`).then((r) => r.stdout.trim())),
    );
    expect(results).toEqual(["0", "1", "2", "3", "4"]);
    const wakes = (await sandbox.events()).filter((e) => e.type === "waking");
    expect(wakes).toHaveLength(1);
    await sandbox.kill();
  });
});
