#!/usr/bin/env node
// `npm run bench`: Burrow vs raw runsc in the same run. Writes bench/results/latest.json.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, homedir } from "node:os";
import { join } from "node:path";
import { Sandbox } from "@burrow/sdk";
import { AgentDirect } from "./lib/agent-direct.mjs";
import { RawRunsc } from "./lib/raw-runsc.mjs";
import { startServer } from "./lib/server.mjs";
import { repeat, summarize, timeIt } from "./lib/stats.mjs";

const N_CREATE = Number(process.env.BENCH_N_CREATE ?? 15);
const N_EXEC = Number(process.env.BENCH_N_EXEC ?? 50);
const root = join(import.meta.dirname, "..");
const templates = process.env.BURROW_TEMPLATES_DIR ?? join(homedir(), ".burrow", "templates");
const log = (msg) => process.stderr.write(`[bench] ${msg}\n`);

const server = await startServer();
const opts = { apiUrl: server.url, apiKey: server.apiKey };
const rawDir = mkdtempSync("/tmp/br-");
const raw = new RawRunsc(rawDir, join(templates, "base", "rootfs"), join(root, "packages/agent/bin/burrow-agent"));
const results = {};

try {
  log(`create → first exec output (n=${N_CREATE})`);
  const rawCreate = [];
  const rawTeardown = [];
  for (let i = 0; i < N_CREATE; i++) {
    const id = `raw${String(i).padStart(4, "0")}${Date.now()}`;
    rawCreate.push(
      await timeIt(async () => {
        await raw.create(id);
        await raw.exec(id, ["echo", "hi"]);
      }),
    );
    rawTeardown.push(await timeIt(() => raw.destroy(id)));
  }
  const burrowCreate = [];
  const burrowTeardown = [];
  for (let i = 0; i < N_CREATE; i++) {
    let sandbox;
    burrowCreate.push(
      await timeIt(async () => {
        sandbox = await Sandbox.create(opts);
        await new Promise((resolve, reject) => {
          sandbox.commands.run("echo hi", { onStdout: resolve }).catch(reject);
        });
      }),
    );
    burrowTeardown.push(await timeIt(() => sandbox.kill()));
  }
  results.createToFirstExec = { burrow: summarize(burrowCreate), rawRunsc: summarize(rawCreate) };
  results.teardown = { burrow: summarize(burrowTeardown), rawRunscKillDelete: summarize(rawTeardown) };

  log(`exec round trip (n=${N_EXEC})`);
  const sandbox = await Sandbox.create(opts);
  const direct = new AgentDirect(server.dataDir, sandbox.sandboxId);
  const rawId = `rawexec${Date.now()}`;
  await raw.create(rawId);
  for (let i = 0; i < 5; i++) await sandbox.commands.run("true");
  results.execTrue = {
    burrowSdk: await repeat(N_EXEC, () => timeIt(() => sandbox.commands.run("true"))),
    agentDirectSameCommand: await repeat(N_EXEC, () => timeIt(() => direct.start("/bin/bash", ["-l", "-c", "true"]))),
    agentDirectBinTrue: await repeat(N_EXEC, () => timeIt(() => direct.start("/bin/true", []))),
    rawRunscExecTrue: await repeat(20, () => timeIt(() => raw.exec(rawId, ["true"]))),
  };
  await raw.destroy(rawId);

  log("file write + read, 1 MB (n=20)");
  const mb = Buffer.alloc(1024 * 1024, 7);
  results.file1MbWriteRead = {
    burrowSdk: await repeat(20, (i) =>
      timeIt(async () => {
        await sandbox.files.write(`/home/user/f${i}.bin`, mb);
        await sandbox.files.read(`/home/user/f${i}.bin`, { format: "bytes" });
      }),
    ),
  };
  await sandbox.kill();
} finally {
  await server.stop();
  rmSync(server.dataDir, { recursive: true, force: true });
  rmSync(rawDir, { recursive: true, force: true });
}

const ratio = (a, b) => Math.round((a / b) * 100) / 100;
const report = {
  date: new Date().toISOString(),
  host: {
    cpus: cpus().length,
    kernel: execFileSync("uname", ["-r"], { encoding: "utf8" }).trim(),
    runsc: execFileSync("runsc", ["--version"], { encoding: "utf8" }).split("\n")[0],
  },
  results,
  ratios: {
    createToFirstExecP50VsRaw: ratio(results.createToFirstExec.burrow.p50, results.createToFirstExec.rawRunsc.p50),
    teardownP50VsRawKillDelete: ratio(results.teardown.burrow.p50, results.teardown.rawRunscKillDelete.p50),
    execTrueP50VsRawRunscExec: ratio(results.execTrue.burrowSdk.p50, results.execTrue.rawRunscExecTrue.p50),
  },
  goals: {
    createToFirstExecP50Ms: { goal: 250, actual: results.createToFirstExec.burrow.p50 },
    execOverheadAboveAgentSpawnP50Ms: {
      goal: 10,
      actual: Math.round((results.execTrue.burrowSdk.p50 - results.execTrue.agentDirectSameCommand.p50) * 100) / 100,
    },
  },
};
const out = process.env.BENCH_OUT ?? join(root, "bench", "results", "latest.json");
writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
console.log(JSON.stringify(report, null, 2));
log(`wrote ${out}`);
