// Suite "slice" (issue 2): cold create → first exec output, exec round trip, 1 MB file write +
// read, teardown; Burrow (SDK through the server, no warm pool) vs raw runsc in the same run.
//
//   BENCH_N_CREATE   creates per side (default 12)
//   BENCH_N_EXEC     exec round trips per variant (default 40)
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { Sandbox } from "@burrow/sdk";
import { AgentDirect } from "../lib/agent-direct.mjs";
import { RawRunsc, rawId } from "../lib/raw-runsc.mjs";
import { startServer } from "../lib/server.mjs";
import { goal, ratio, repeat, round, summarize, timeIt } from "../lib/stats.mjs";

const N_CREATE = Number(process.env.BENCH_N_CREATE ?? 12);
const N_EXEC = Number(process.env.BENCH_N_EXEC ?? 40);

/** Resolves on the first stdout chunk of `echo hi` (the "first exec output"). */
export function firstOutput(sandbox) {
  return new Promise((resolve, reject) => {
    sandbox.commands.run("echo hi", { onStdout: resolve }).catch(reject);
  });
}

export async function run({ templatesDir, agentBinary, log, cleanups }) {
  const server = await startServer({ BURROW_WARM_POOL: "", BURROW_NETWORK_PREFIX: "10.251" });
  const created = [];
  cleanups.add(() => server.dispose(created));
  const opts = { apiUrl: server.url, apiKey: server.apiKey };
  const raw = new RawRunsc(mkdtempSync("/tmp/br-"), join(templatesDir, "base", "rootfs"), agentBinary, {
    networkPrefix: "10.255",
  });
  cleanups.add(() => raw.cleanupAll());
  const results = {};

  log(`slice: create → first exec output, teardown (n=${N_CREATE} per side)`);
  const rawCreate = [];
  const rawTeardown = [];
  for (let i = 0; i < N_CREATE; i++) {
    const id = rawId();
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
        await firstOutput(sandbox);
      }),
    );
    created.push(sandbox.sandboxId);
    burrowTeardown.push(await timeIt(() => sandbox.kill()));
  }
  results.createToFirstExec = { burrow: summarize(burrowCreate), rawRunsc: summarize(rawCreate) };
  results.teardown = { burrow: summarize(burrowTeardown), rawRunscKillDelete: summarize(rawTeardown) };

  log(`slice: exec round trip (n=${N_EXEC})`);
  const sandbox = await Sandbox.create(opts);
  created.push(sandbox.sandboxId);
  const direct = new AgentDirect(server.dataDir, sandbox.sandboxId);
  const rawExecId = rawId();
  await raw.create(rawExecId);
  for (let i = 0; i < 5; i++) await sandbox.commands.run("true");
  // The three agent variants take turns, so the overhead (SDK minus direct) is not skewed by the
  // machine getting faster or slower between one block of samples and the next.
  const sdk = [];
  const sameCommand = [];
  const binTrue = [];
  for (let i = 0; i < N_EXEC; i++) {
    sdk.push(await timeIt(() => sandbox.commands.run("true")));
    sameCommand.push(await timeIt(() => direct.start("/bin/bash", ["-l", "-c", "true"])));
    binTrue.push(await timeIt(() => direct.start("/bin/true", [])));
  }
  results.execTrue = {
    burrowSdk: summarize(sdk),
    agentDirectSameCommand: summarize(sameCommand),
    agentDirectBinTrue: summarize(binTrue),
    rawRunscExecTrue: await repeat(Math.min(N_EXEC, 20), () => timeIt(() => raw.exec(rawExecId, ["true"]))),
  };
  direct.close();
  await raw.destroy(rawExecId);

  log("slice: file write + read, 1 MB (n=20)");
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

  const execOverhead = round(results.execTrue.burrowSdk.p50 - results.execTrue.agentDirectSameCommand.p50);
  return {
    results,
    ratios: {
      createToFirstExecP50VsRaw: ratio(results.createToFirstExec.burrow.p50, results.createToFirstExec.rawRunsc.p50),
      teardownP50VsRawKillDelete: ratio(results.teardown.burrow.p50, results.teardown.rawRunscKillDelete.p50),
      execTrueP50VsRawRunscExec: ratio(results.execTrue.burrowSdk.p50, results.execTrue.rawRunscExecTrue.p50),
    },
    goals: {
      coldCreateToFirstExecP50: goal(250, results.createToFirstExec.burrow.p50),
      execOverheadAboveAgentSpawnP50: goal(10, execOverhead, {
        note: "SDK commands.run('true') p50 minus the same bash -l -c true started directly on the agent",
      }),
    },
  };
}
