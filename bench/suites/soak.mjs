// Suite "soak" (issue 11, item 10): one sandbox hibernated and woken N times in a row. Reports the
// first and the last cycles, the least-squares slope per cycle, and what the sandbox leaves on
// the host as it goes (image size, files in its dir and its runsc state root, agent log size), so
// anything that accumulates shows up as a slope. Load from other work on the host moves the
// first-vs-last numbers either way, so the goal compares the soaked sandbox with a fresh one in
// alternating cycles at the end, under the same load.
//
//   BENCH_SOAK_CYCLES  hibernate → wake cycles (default 100)
//   BENCH_SOAK_EDGE    cycles at each end compared by their p50, and paired cycles at the end (default 5)
import { existsSync, readdirSync, statSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { Sandbox } from "@burrow/sdk";
import { dirSizeMb, timedRetryingConflicts } from "../lib/sandbox-work.mjs";
import { startServer } from "../lib/server.mjs";
import { goal, ratio, round, summarize, timeIt } from "../lib/stats.mjs";

const CYCLES = Number(process.env.BENCH_SOAK_CYCLES ?? 100);
const EDGE = Math.max(1, Math.min(Number(process.env.BENCH_SOAK_EDGE ?? 5), Math.floor(CYCLES / 2)));
const NO_AUTO_SLEEP = { standbyAfterMs: 0, hibernateAfterMs: 0 };

/** Number of entries under `dir`, recursively (0 when it does not exist). */
function countEntries(dir) {
  if (!existsSync(dir)) return 0;
  let n = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    n++;
    if (entry.isDirectory()) n += countEntries(join(dir, entry.name));
  }
  return n;
}

function sizeKb(path) {
  return existsSync(path) ? round(statSync(path).size / 1024, 1) : 0;
}

/** Least-squares slope of `ys` against their index (units per cycle). */
export function slope(ys) {
  const n = ys.length;
  if (n < 2) return 0;
  const mx = (n - 1) / 2;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (i - mx) * (ys[i] - my);
    den += (i - mx) ** 2;
  }
  return num / den;
}

/** First vs last cycles of one series: p50 of `EDGE` cycles at each end, their ratio, the slope. */
function trend(samples) {
  const first = summarize(samples.slice(0, EDGE)).p50;
  const last = summarize(samples.slice(-EDGE)).p50;
  return {
    all: summarize(samples),
    firstCyclesP50: first,
    lastCyclesP50: last,
    lastVsFirst: ratio(last, first),
    slopePerCycle: round(slope(samples), 3),
  };
}

/** A sandbox as the soak uses it: no automatic sleep, one long-lived process. */
async function soakSandbox(server, created) {
  const sb = await Sandbox.create({ apiUrl: server.url, apiKey: server.apiKey, lifecycle: NO_AUTO_SLEEP });
  created.push(sb.sandboxId);
  // A process that lives through every cycle, as a real workload would.
  await (await sb.commands.run("exec sleep 1000000", { background: true, timeoutMs: 0 })).disconnect();
  return sb;
}

/** One hibernate → wake cycle with a command after it; returns [hibernateMs, wakeMs]. */
async function cycle(sb, i, retries, whileHibernated = () => {}) {
  const h = (await timedRetryingConflicts(() => sb.hibernate(), retries)).ms;
  whileHibernated();
  const w = await timeIt(() => sb.resume());
  // Some work in each cycle, as an agent session would do between naps.
  await sb.commands.run(`echo cycle ${i} >> /tmp/soak.log`);
  return [h, w];
}

export async function run({ log, cleanups }) {
  const server = await startServer({ BURROW_NETWORK_PREFIX: "10.194" });
  const created = [];
  cleanups.add(() => server.dispose(created));
  const loadAtStart = loadavg()[0];
  const sb = await soakSandbox(server, created);
  const dir = join(server.dataDir, "sandboxes", sb.sandboxId);
  const stateRoot = join(server.dataDir, "runsc", sb.sandboxId);

  log(`soak: ${CYCLES} hibernate → wake cycles of one sandbox`);
  const hibernate = [];
  const wake = [];
  const imageMb = [];
  const host = [];
  const retries = { conflicts: 0 };
  for (let i = 0; i < CYCLES; i++) {
    const [h, w] = await cycle(sb, i, retries, () => imageMb.push(dirSizeMb(join(dir, "memory"))));
    hibernate.push(h);
    wake.push(w);
    if (i === 0 || i === CYCLES - 1 || (i + 1) % 25 === 0) {
      host.push({
        cycle: i + 1,
        sandboxDirEntries: countEntries(dir) - countEntries(join(dir, "upper")) - countEntries(join(dir, "rootfs")),
        runscStateEntries: countEntries(stateRoot),
        agentLogKb: sizeKb(join(dir, "run", "agent.log")),
        runscLogKb: sizeKb(join(dir, "runsc.log")),
      });
    }
    if ((i + 1) % 10 === 0) log(`soak: cycle ${i + 1}: hibernate ${round(h)} ms, wake ${round(w)} ms`);
  }

  log(`soak: ${EDGE} cycles each of the soaked sandbox and a fresh one, alternating`);
  const fresh = await soakSandbox(server, created);
  const paired = { soaked: { hibernate: [], wake: [] }, fresh: { hibernate: [], wake: [] } };
  for (let i = 0; i < EDGE; i++) {
    for (const [name, box] of [
      ["soaked", sb],
      ["fresh", fresh],
    ]) {
      const [h, w] = await cycle(box, CYCLES + i, retries);
      paired[name].hibernate.push(h);
      paired[name].wake.push(w);
    }
  }
  const answers = (await sb.commands.run("echo ok")).stdout.trim() === "ok";
  await fresh.kill();
  await sb.kill();

  const vsFresh = (what) => ({
    soaked: summarize(paired.soaked[what]),
    fresh: summarize(paired.fresh[what]),
    soakedVsFresh: ratio(summarize(paired.soaked[what]).p50, summarize(paired.fresh[what]).p50),
  });
  const results = {
    cycles: CYCLES,
    edgeCycles: EDGE,
    loadAvg1m: { start: round(loadAtStart), end: round(loadavg()[0]) },
    hibernateApi: trend(hibernate),
    wakeApi: trend(wake),
    afterSoakVsFresh: { hibernateApi: vsFresh("hibernate"), wakeApi: vsFresh("wake") },
    imageMb: { first: imageMb[0], last: imageMb.at(-1), slopePerCycle: round(slope(imageMb), 4) },
    host,
    hibernateRefusedOpenConnections: retries.conflicts,
    answersAfterLastCycle: answers,
  };
  const goals = {
    hibernateSoakedVsFresh: goal(1.2, results.afterSoakVsFresh.hibernateApi.soakedVsFresh, {
      unit: "x",
      note: `hibernate p50 of the sandbox after ${CYCLES} cycles / of a fresh sandbox, ${EDGE} alternating cycles each`,
    }),
    wakeSoakedVsFresh: goal(1.2, results.afterSoakVsFresh.wakeApi.soakedVsFresh, {
      unit: "x",
      note: `wake p50 of the sandbox after ${CYCLES} cycles / of a fresh sandbox, ${EDGE} alternating cycles each`,
    }),
  };
  return { results, goals };
}
