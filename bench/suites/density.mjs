// Suite "density" (issue 3): N sandboxes held in standby; API latency, wake + exec and host
// memory while they are; every sandbox is deleted at the end (and runsc checked for leftovers).
//
//   BENCH_DENSITY_N          sandboxes to hold in standby (default 200)
//   BENCH_DENSITY_PARALLEL   creates/deletes in flight (default 2)
//   BENCH_DENSITY_N_GET      GET /v1/sandboxes/{id} samples (default 200)
//   BENCH_DENSITY_N_LIST     GET /v1/sandboxes samples (default 50)
//   BENCH_DENSITY_N_WAKE     wake + exec samples (default 20)
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { Sandbox } from "@burrow/sdk";
import { meminfo, memoryOfProcesses, rssOf } from "../lib/host.mjs";
import { RawRunsc, rawId } from "../lib/raw-runsc.mjs";
import { pool, startServer } from "../lib/server.mjs";
import { goal, ratio, round, sleep, summarize, timeIt } from "../lib/stats.mjs";

const N = Number(process.env.BENCH_DENSITY_N ?? 200);
const PARALLEL = Number(process.env.BENCH_DENSITY_PARALLEL ?? 2);
const N_GET = Number(process.env.BENCH_DENSITY_N_GET ?? 200);
const N_LIST = Number(process.env.BENCH_DENSITY_N_LIST ?? 50);
const N_WAKE = Number(process.env.BENCH_DENSITY_N_WAKE ?? 20);
const MAX_FAILURES = 10;

const pick = (arr) => arr[Math.floor(Math.random() * arr.length)];

export async function run({ templatesDir, agentBinary, log, cleanups }) {
  const server = await startServer({ BURROW_WARM_POOL: "", BURROW_NETWORK_PREFIX: "10.254" });
  const ids = [];
  let disposed = false;
  cleanups.add(async () => {
    if (!disposed) await server.dispose(ids, PARALLEL);
  });
  const opts = { apiUrl: server.url, apiKey: server.apiKey };
  const lifecycle = { standbyAfterMs: 0, hibernateAfterMs: 0 };
  const timedApi = async (method, path) => {
    const t0 = performance.now();
    const res = await server.api(method, path);
    if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    return performance.now() - t0;
  };
  const needle = `--root=${server.dataDir}/runsc`;

  // Baseline: one running sandbox, nothing in standby.
  const probe = await Sandbox.create({ ...opts, lifecycle });
  ids.push(probe.sandboxId);
  for (let i = 0; i < 5; i++) await probe.commands.run("true");
  const baseline = { get: [], list: [], exec: [] };
  for (let i = 0; i < 50; i++) baseline.get.push(await timedApi("GET", `/v1/sandboxes/${probe.sandboxId}`));
  for (let i = 0; i < 30; i++) baseline.list.push(await timedApi("GET", "/v1/sandboxes"));
  for (let i = 0; i < N_WAKE; i++) baseline.exec.push(await timeIt(() => probe.commands.run("true")));
  const probeMemory = memoryOfProcesses(needle);

  // Raw: one idle raw sandbox (agent as PID 1), for per-sandbox memory.
  const raw = new RawRunsc(mkdtempSync("/tmp/br-"), join(templatesDir, "base", "rootfs"), agentBinary, {
    networkPrefix: "10.255",
  });
  cleanups.add(() => raw.cleanupAll());
  const rid = rawId();
  await raw.create(rid);
  await raw.waitAgent(rid);
  await sleep(1000);
  const rawMemory = memoryOfProcesses(`--root=${raw.stateDir}`);
  await raw.freeze(rid);
  const rawFrozenMemory = memoryOfProcesses(`--root=${raw.stateDir}`);
  await raw.destroy(rid);

  log(`density: creating and pausing ${N} sandboxes (parallel ${PARALLEL})`);
  await sleep(1000);
  const memBefore = meminfo();
  const createMs = [];
  const pauseMs = [];
  const failures = [];
  const t0 = performance.now();
  await pool(
    Array.from({ length: N }, (_, i) => i),
    PARALLEL,
    async (i) => {
      if (failures.length >= MAX_FAILURES) return;
      try {
        let sb;
        createMs.push(
          await timeIt(async () => {
            sb = await Sandbox.create({ ...opts, lifecycle, metadata: { bench: "density" } });
          }),
        );
        ids.push(sb.sandboxId);
        pauseMs.push(await timeIt(() => sb.pause()));
        if ((i + 1) % 50 === 0) log(`density: ${i + 1}/${N}`);
      } catch (err) {
        failures.push(String(err?.message ?? err));
        log(`density: create/pause ${i} failed: ${err?.message ?? err}`);
      }
    },
  );
  const fillS = round((performance.now() - t0) / 1000, 1);
  await sleep(3000);
  const memAfter = meminfo();
  const standbyMemory = memoryOfProcesses(needle);
  const listed = (await server.api("GET", "/v1/sandboxes")).body.sandboxes;
  const inStandby = listed.filter((s) => s.state === "standby").map((s) => s.id);
  log(`density: ${inStandby.length} in standby; measuring the API`);

  const get = [];
  for (let i = 0; i < N_GET; i++) get.push(await timedApi("GET", `/v1/sandboxes/${pick(inStandby)}`));
  const list = [];
  for (let i = 0; i < N_LIST; i++) list.push(await timedApi("GET", "/v1/sandboxes"));
  const health = [];
  for (let i = 0; i < 50; i++) health.push(await timedApi("GET", "/v1/health"));
  const wakeExec = [];
  const execAfter = [];
  for (let i = 0; i < N_WAKE && inStandby.length > 0; i++) {
    const sb = await Sandbox.connect(pick(inStandby), opts);
    wakeExec.push(await timeIt(() => sb.commands.run("true")));
    execAfter.push(await timeIt(() => sb.commands.run("true")));
    await sb.pause();
  }
  const serverRssMb = rssOf(server.pid);

  log(`density: deleting ${ids.length} sandboxes`);
  const deleteMs = [];
  await pool([...ids], PARALLEL, async (id) => {
    const t = performance.now();
    const res = await server.api("DELETE", `/v1/sandboxes/${id}`).catch((e) => ({ status: String(e) }));
    if (res.status === 204) deleteMs.push(performance.now() - t);
  });
  disposed = true;
  const leftovers = await server.dispose(ids, PARALLEL);
  if (leftovers.length > 0) log(`density: leftovers removed by force: ${leftovers.join(", ")}`);
  const processesAfter = memoryOfProcesses(needle).processes;

  const held = inStandby.length;
  const perSandboxHostMb = held > 0 ? round((memAfter.usedMb - memBefore.usedMb) / held, 1) : null;
  const perSandboxPssMb = held > 0 ? round((standbyMemory.pssMb - probeMemory.pssMb) / held, 1) : null;
  const results = {
    requested: N,
    heldInStandby: held,
    failures,
    fillSeconds: fillS,
    createApi: summarize(createMs),
    pauseApi: summarize(pauseMs),
    deleteApi: summarize(deleteMs),
    whileHeld: {
      getSandbox: summarize(get),
      listSandboxes: summarize(list),
      health: summarize(health),
      wakeAndExecTrue: summarize(wakeExec),
      execTrueRightAfterWake: summarize(execAfter),
      listedSandboxes: listed.length,
    },
    baselineOneRunningSandbox: {
      getSandbox: summarize(baseline.get),
      listSandboxes: summarize(baseline.list),
      execTrue: summarize(baseline.exec),
    },
    memory: {
      hostUsedBeforeMb: memBefore.usedMb,
      hostUsedAfterMb: memAfter.usedMb,
      hostUsedPerSandboxMb: perSandboxHostMb,
      runscProcesses: standbyMemory.processes,
      pssAllSandboxesMb: standbyMemory.pssMb,
      rssAllSandboxesMb: standbyMemory.rssMb,
      pssPerSandboxMb: perSandboxPssMb,
      serverRssMb,
      rawIdleSandboxPssMb: rawMemory.pssMb,
      rawFrozenSandboxPssMb: rawFrozenMemory.pssMb,
      rawProcessesPerSandbox: rawMemory.processes,
    },
    leftoversAfterDelete: leftovers,
    runscProcessesAfterDelete: processesAfter,
  };
  return {
    results,
    ratios: {
      pssPerStandbySandboxVsRawIdleSandbox: ratio(perSandboxPssMb, rawMemory.pssMb),
      getSandboxP95HeldVsBaseline: ratio(
        results.whileHeld.getSandbox.p95,
        results.baselineOneRunningSandbox.getSandbox.p95,
      ),
      listSandboxesP95HeldVsBaseline: ratio(
        results.whileHeld.listSandboxes.p95,
        results.baselineOneRunningSandbox.listSandboxes.p95,
      ),
      wakeAndExecP50VsExecOnRunning: ratio(
        results.whileHeld.wakeAndExecTrue.p50,
        results.baselineOneRunningSandbox.execTrue.p50,
      ),
    },
    goals: {
      standbySandboxesHeld: goal(200, held, { unit: "sandboxes", comparison: ">=" }),
      getSandboxP95WhileHeld: goal(50, results.whileHeld.getSandbox.p95),
      listSandboxesP95WhileHeld: goal(50, results.whileHeld.listSandboxes.p95, {
        note: `list of all ${listed.length} sandboxes`,
      }),
    },
  };
}
