// Suite "lifecycle" (issue 3): wake from standby, hibernate + wake with touched memory, create
// from the warm pool; each against raw runsc (and the cgroup freezer) in the same run.
//
//   BENCH_N_STANDBY      standby → wake iterations per variant (default 30)
//   BENCH_N_RAW_PAUSE    raw runsc pause/resume and freezer iterations (default 15)
//   BENCH_HIBERNATE_MB   touched-memory sizes in MB (default "0,100,500")
//   BENCH_N_HIBERNATE    hibernate → wake iterations per size and variant (default 7)
//   BENCH_HIBERNATE_FILL "touch" (one byte written per 4 KiB page, default) or "random" (incompressible)
//   BENCH_N_POOL         warm-pool creates, cold creates (default 20); raw run+exec min(n, 8)
//   BENCH_POOL_SETTLE_MS pause after the pool is full again before the next create (default 300)
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Sandbox } from "@burrow/sdk";
import { RawRunsc, rawId } from "../lib/raw-runsc.mjs";
import { ALLOC_PY, dirSizeMb, timedRetryingConflicts, until } from "../lib/sandbox-work.mjs";
import { startServer } from "../lib/server.mjs";
import { goal, ratio, round, sleep, summarize, timeIt } from "../lib/stats.mjs";
import { firstOutput } from "./slice.mjs";

const N_STANDBY = Number(process.env.BENCH_N_STANDBY ?? 30);
const N_RAW_PAUSE = Number(process.env.BENCH_N_RAW_PAUSE ?? 15);
const HIBERNATE_MB = (process.env.BENCH_HIBERNATE_MB ?? "0,100,500").split(",").map(Number);
const N_HIBERNATE = Number(process.env.BENCH_N_HIBERNATE ?? 7);
const FILL = process.env.BENCH_HIBERNATE_FILL === "random" ? "random" : "touch";
const N_POOL = Number(process.env.BENCH_N_POOL ?? 20);
const N_RAW_CREATE = Math.min(N_POOL, 8);
const POOL_SETTLE_MS = Number(process.env.BENCH_POOL_SETTLE_MS ?? 300);

/** Never sleeps by itself: the suite pauses and hibernates explicitly. */
const NO_AUTO_SLEEP = { standbyAfterMs: 0, hibernateAfterMs: 0 };

/** The durations of the "woken" events recorded since event id `after`. */
async function wokenDurations(sandbox, after) {
  const events = await sandbox.events({ after });
  return events.filter((e) => e.type === "woken" && typeof e.durationMs === "number").map((e) => e.durationMs);
}

/**
 * sandbox.hibernate(), timed. A refusal with `conflict` ("still has open connections from the
 * host") is retried after a second and counted (reported as hibernateRefusedOpenConnections):
 * before the server quarantined a deleted sandbox's address, a host socket left in FIN-WAIT-1
 * towards it blocked the checkpoint of the next sandbox given that address. Only the successful
 * call is timed.
 */
async function timedHibernate(sandbox, stats) {
  return (await timedRetryingConflicts(() => sandbox.hibernate(), stats)).ms;
}

async function lastEventId(sandbox) {
  return (await sandbox.events()).at(-1)?.id ?? 0;
}

export async function run({ templatesDir, agentBinary, log, cleanups }) {
  const results = {};
  const ratios = {};
  const goals = {};
  const raw = new RawRunsc(mkdtempSync("/tmp/br-"), join(templatesDir, "base", "rootfs"), agentBinary, {
    networkPrefix: "10.255",
  });
  cleanups.add(() => raw.cleanupAll());

  let server = await startServer({ BURROW_WARM_POOL: "", BURROW_NETWORK_PREFIX: "10.252" });
  const created = [];
  cleanups.add(() => server.dispose(created));
  let opts = { apiUrl: server.url, apiKey: server.apiKey };
  const create = async (extra = {}) => {
    const sb = await Sandbox.create({ ...opts, lifecycle: NO_AUTO_SLEEP, ...extra });
    created.push(sb.sandboxId);
    return sb;
  };

  // ── a. wake from standby ───────────────────────────────────────────────────────────────
  log(`lifecycle: wake from standby (n=${N_STANDBY} per variant)`);
  {
    const sb = await create();
    for (let i = 0; i < 5; i++) await sb.files.exists("/home/user");
    const runningCall = [];
    for (let i = 0; i < N_STANDBY; i++) runningCall.push(await timeIt(() => sb.files.exists("/home/user")));
    const runningExec = [];
    for (let i = 0; i < Math.min(N_STANDBY, 20); i++) runningExec.push(await timeIt(() => sb.commands.run("true")));
    const pause = [];
    const resume = [];
    const firstCall = [];
    const firstExec = [];
    const since = await lastEventId(sb);
    for (let i = 0; i < N_STANDBY; i++) {
      pause.push(await timeIt(() => sb.pause()));
      await sleep(20);
      resume.push(await timeIt(() => sb.resume()));
    }
    for (let i = 0; i < N_STANDBY; i++) {
      await sb.pause();
      await sleep(20);
      firstCall.push(await timeIt(() => sb.files.exists("/home/user")));
    }
    for (let i = 0; i < Math.min(N_STANDBY, 20); i++) {
      await sb.pause();
      await sleep(20);
      firstExec.push(await timeIt(() => sb.commands.run("true")));
    }
    const serverWake = await wokenDurations(sb, since);
    await sb.kill();

    log(`lifecycle: raw runsc pause/resume and freezer (n=${N_RAW_PAUSE})`);
    const id = rawId();
    await raw.create(id);
    await raw.waitAgent(id);
    const rawPause = [];
    const rawResume = [];
    for (let i = 0; i < N_RAW_PAUSE; i++) {
      rawPause.push(await timeIt(() => raw.pause(id)));
      await sleep(20);
      rawResume.push(await timeIt(() => raw.resume(id)));
    }
    const freeze = [];
    const thaw = [];
    const thawToAgent = [];
    for (let i = 0; i < N_RAW_PAUSE; i++) {
      freeze.push(await timeIt(() => raw.freeze(id)));
      await sleep(20);
      thaw.push(await timeIt(() => raw.thaw(id)));
      // A fresh connection, as after a wake nothing may be pooled.
      thawToAgent.push(await timeIt(() => raw.waitAgent(id)));
    }
    await raw.destroy(id);

    results.standby = {
      burrow: {
        pauseApi: summarize(pause),
        resumeApi: summarize(resume),
        serverWakeEventMs: summarize(serverWake),
        firstEnvdCallAfterStandby: summarize(firstCall),
        envdCallWhileRunning: summarize(runningCall),
        firstExecAfterStandby: summarize(firstExec),
        execWhileRunning: summarize(runningExec),
      },
      raw: {
        runscPause: summarize(rawPause),
        runscResume: summarize(rawResume),
        freezerFreeze: summarize(freeze),
        freezerThaw: summarize(thaw),
        thawToFirstAgentAnswer: summarize(thawToAgent),
      },
    };
    const b = results.standby.burrow;
    const r = results.standby.raw;
    const addedFirstCall = round(b.firstEnvdCallAfterStandby.p50 - b.envdCallWhileRunning.p50);
    results.standby.burrow.addedLatencyFirstEnvdCallP50 = addedFirstCall;
    ratios.standbyResumeApiP50VsRawRunscResume = ratio(b.resumeApi.p50, r.runscResume.p50);
    ratios.standbyResumeApiP50VsFreezerThaw = ratio(b.resumeApi.p50, r.freezerThaw.p50);
    ratios.standbyPauseApiP50VsRawRunscPause = ratio(b.pauseApi.p50, r.runscPause.p50);
    goals.standbyWakeResumeApiP50 = goal(10, b.resumeApi.p50, {
      note: "POST /v1/sandboxes/{id}/resume round trip through the server (thaw + state write)",
    });
    goals.standbyWakeAddedToFirstCallP50 = goal(10, addedFirstCall, {
      note: "files.exists on a sandbox in standby minus the same call on a running one (p50s)",
    });
  }

  // ── b. hibernate and wake, with touched memory ────────────────────────────────────────────
  results.hibernation = {};
  for (const mb of HIBERNATE_MB) {
    log(`lifecycle: hibernation with ${mb} MB touched (n=${N_HIBERNATE} per variant)`);
    // Burrow
    const sb = await create();
    await sb.files.write("/tmp/alloc.py", ALLOC_PY);
    const handle = await sb.commands.run(`exec python3 /tmp/alloc.py ${mb} ${FILL}`, {
      background: true,
      timeoutMs: 0,
    });
    await handle.disconnect();
    await until(`${mb} MB allocated`, () => sb.files.exists("/tmp/alloc-ready"), 120_000, 50);
    const pid = (await sb.files.read("/tmp/alloc-ready")).trim();
    const since = await lastEventId(sb);
    const hibernate = [];
    const resume = [];
    const firstCall = [];
    let imageMb = null;
    const retries = { conflicts: 0 };
    for (let i = 0; i < N_HIBERNATE; i++) {
      hibernate.push(await timedHibernate(sb, retries));
      imageMb = dirSizeMb(join(server.dataDir, "sandboxes", sb.sandboxId, "memory"));
      resume.push(await timeIt(() => sb.resume()));
    }
    for (let i = 0; i < N_HIBERNATE; i++) {
      hibernate.push(await timedHibernate(sb, retries));
      firstCall.push(await timeIt(() => sb.files.exists("/tmp/alloc-ready")));
    }
    const serverWake = await wokenDurations(sb, since);
    const alive = await sb.commands.run(`kill -0 ${pid} && echo alive`).then(
      (r) => r.stdout.trim() === "alive",
      () => false,
    );
    await sb.kill();

    // Raw runsc: same template, flags and agent as PID 1, the allocating process its child (a
    // process started with `runsc exec` is not brought back by `runsc restore` here).
    const id = rawId();
    await raw.prepare(id, {
      args: [
        "/bin/sh",
        "-c",
        `python3 /tmp/alloc.py ${mb} ${FILL} </dev/null >/dev/null 2>&1 & exec /opt/burrow/bin/burrow-agent --port 49983`,
      ],
    });
    writeFileSync(join(raw.dir(id), "rootfs", "tmp", "alloc.py"), ALLOC_PY);
    await raw.start(id);
    await raw.waitAgent(id);
    const readyFile = join(raw.dir(id), "rootfs", "tmp", "alloc-ready");
    await until(
      `raw ${mb} MB allocated`,
      () => {
        try {
          return readFileSync(readyFile, "utf8").length > 0;
        } catch {
          return false;
        }
      },
      120_000,
      50,
    );
    const image = join(raw.dir(id), "image");
    const rawCheckpoint = [];
    const rawRestore = [];
    const rawRestoreToAgent = [];
    let rawImageMb = null;
    for (let i = 0; i < N_HIBERNATE; i++) {
      await raw.waitNoConnections(id);
      rawCheckpoint.push(await timeIt(() => raw.checkpoint(id, image)));
      rawImageMb = dirSizeMb(image);
      await raw.afterCheckpoint(id);
      const t0 = performance.now();
      await raw.restore(id, image);
      rawRestore.push(performance.now() - t0);
      await raw.waitAgent(id);
      rawRestoreToAgent.push(performance.now() - t0);
      rmSync(image, { recursive: true, force: true });
    }
    const rawPid = readFileSync(readyFile, "utf8").trim();
    const rawAlive =
      (await raw.exec(id, ["/bin/sh", "-c", `kill -0 ${rawPid} && echo alive`]).catch(() => "")).trim() === "alive";
    await raw.destroy(id);

    const res = {
      burrow: {
        hibernateApi: summarize(hibernate),
        resumeApi: summarize(resume),
        firstEnvdCallAfterHibernation: summarize(firstCall),
        serverWakeEventMs: summarize(serverWake),
        imageMb,
        sameProcessAfterWakes: alive,
        hibernateRefusedOpenConnections: retries.conflicts,
      },
      raw: {
        runscCheckpoint: summarize(rawCheckpoint),
        runscRestore: summarize(rawRestore),
        runscRestoreToFirstAgentAnswer: summarize(rawRestoreToAgent),
        imageMb: rawImageMb,
        sameProcessAfterRestores: rawAlive,
      },
    };
    res.fill = FILL;
    results.hibernation[`${mb}MB`] = res;
    ratios[`hibernate${mb}MbP50VsRawCheckpoint`] = ratio(res.burrow.hibernateApi.p50, res.raw.runscCheckpoint.p50);
    ratios[`wake${mb}MbResumeP50VsRawRestoreToAgent`] = ratio(
      res.burrow.resumeApi.p50,
      res.raw.runscRestoreToFirstAgentAnswer.p50,
    );
    ratios[`wake${mb}MbResumeP50VsBareRunscRestore`] = ratio(res.burrow.resumeApi.p50, res.raw.runscRestore.p50);
    ratios[`wake${mb}MbFirstCallP50VsRawRestoreToAgent`] = ratio(
      res.burrow.firstEnvdCallAfterHibernation.p50,
      res.raw.runscRestoreToFirstAgentAnswer.p50,
    );
    goals[`hibernationWake${mb}MbVsRawRestore`] = goal(1.2, ratios[`wake${mb}MbResumeP50VsRawRestoreToAgent`], {
      unit: "x",
      note: "POST /resume p50 ÷ raw (runsc restore + first agent answer) p50",
    });
  }

  // ── c. create → first exec output: cold, warm pool, raw ────────────────────────────────────
  log(`lifecycle: cold create → first exec (n=${N_POOL})`);
  const cold = [];
  for (let i = 0; i < N_POOL; i++) {
    let sb;
    cold.push(
      await timeIt(async () => {
        sb = await create();
        await firstOutput(sb);
      }),
    );
    await sb.kill();
  }
  await server.dispose(created);
  cleanups.clear();
  cleanups.add(() => raw.cleanupAll());

  log(`lifecycle: raw runsc run → first exec (n=${N_RAW_CREATE})`);
  const rawCreate = [];
  for (let i = 0; i < N_RAW_CREATE; i++) {
    const id = rawId();
    rawCreate.push(
      await timeIt(async () => {
        await raw.create(id);
        await raw.exec(id, ["echo", "hi"]);
      }),
    );
    await raw.destroy(id);
  }

  log(`lifecycle: warm pool create → first exec (n=${N_POOL})`);
  server = await startServer({ BURROW_WARM_POOL: "base=2", BURROW_NETWORK_PREFIX: "10.253" });
  const warmCreated = [];
  cleanups.add(() => server.dispose(warmCreated));
  opts = { apiUrl: server.url, apiKey: server.apiKey };
  const poolReady = async () => (await server.api("GET", "/v1/health")).body?.warmPool?.base?.ready ?? 0;
  const warm = [];
  const warmCreateApi = [];
  const refill = [];
  let claimed = 0;
  for (let i = 0; i < N_POOL; i++) {
    await until("the warm pool to fill", async () => (await poolReady()) >= 2, 60_000);
    await sleep(POOL_SETTLE_MS);
    let sb;
    warm.push(
      await timeIt(async () => {
        warmCreateApi.push(
          await timeIt(async () => {
            sb = await Sandbox.create({ ...opts, lifecycle: NO_AUTO_SLEEP });
          }),
        );
        await firstOutput(sb);
      }),
    );
    const t0 = performance.now();
    warmCreated.push(sb.sandboxId);
    if ((await sb.events()).some((e) => e.type === "claimed")) claimed++;
    await until("the warm pool to refill", async () => (await poolReady()) >= 2, 60_000, 10);
    refill.push(performance.now() - t0);
    await sb.kill();
  }

  results.createToFirstExec = {
    burrowWarmPool: { ...summarize(warm), claimedFromPool: claimed },
    burrowWarmPoolCreateCallOnly: summarize(warmCreateApi),
    burrowCold: summarize(cold),
    rawRunsc: summarize(rawCreate),
    poolRefillAfterClaim: summarize(refill),
  };
  ratios.warmCreateP50VsRawRunscRunExec = ratio(summarize(warm).p50, summarize(rawCreate).p50);
  ratios.warmCreateP50VsCold = ratio(summarize(warm).p50, summarize(cold).p50);
  ratios.coldCreateP50VsRawRunscRunExec = ratio(summarize(cold).p50, summarize(rawCreate).p50);
  goals.warmPoolCreateToFirstExecP50 = goal(60, summarize(warm).p50, {
    note: `pool refilled and ${POOL_SETTLE_MS} ms quiet before each create; ${claimed}/${N_POOL} came from the pool`,
  });
  goals.coldCreateToFirstExecP50 = goal(250, summarize(cold).p50);

  return { results, ratios, goals };
}
