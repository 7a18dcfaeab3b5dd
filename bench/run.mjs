#!/usr/bin/env node
// `npm run bench`: Burrow vs raw runsc in the same run, suite by suite. Writes one JSON report
// (bench/results/latest.json when every suite runs). See docs/benchmarks.md.
//
//   BENCH_SUITES=slice,lifecycle,…   which suites (default: all of ALL_SUITES, in that order)
//   BENCH_OUT=path                         where to write the report
//   iteration knobs: see each suite's header and docs/benchmarks.md
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, homedir, loadavg } from "node:os";
import { dirname, join } from "node:path";

const ALL_SUITES = [
  "slice",
  "lifecycle",
  "density",
  "checkpoints",
  "network",
  "egress",
  "soak",
  "templates",
  "code",
  "volumes",
  "limits",
  "webhooks",
];
const root = join(import.meta.dirname, "..");
const selected = (process.env.BENCH_SUITES ?? ALL_SUITES.join(","))
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);
for (const name of selected) {
  if (!ALL_SUITES.includes(name)) {
    process.stderr.write(`unknown suite '${name}'; suites: ${ALL_SUITES.join(", ")}\n`);
    process.exit(2);
  }
}

const log = (msg) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const ctx = {
  root,
  templatesDir: process.env.BURROW_TEMPLATES_DIR ?? join(homedir(), ".burrow", "templates"),
  agentBinary: join(root, "packages/agent/bin/burrow-agent"),
  log,
  /** Cleanups registered by the running suite, run on SIGINT/SIGTERM too. */
  cleanups: new Set(),
};

let interrupted = false;
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, async () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log(`${sig}: cleaning up`);
    for (const fn of [...ctx.cleanups].reverse()) await fn().catch((e) => log(`cleanup failed: ${e}`));
    process.exit(130);
  });
}

function meminfoMb() {
  const m = Object.fromEntries(
    readFileSync("/proc/meminfo", "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => {
        const [k, v] = l.split(":");
        return [k, Number.parseInt(v, 10)];
      }),
  );
  return { totalMb: Math.round(m.MemTotal / 1024), availableMb: Math.round(m.MemAvailable / 1024) };
}

const started = Date.now();
const report = {
  date: new Date().toISOString(),
  host: {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memory: meminfoMb(),
    kernel: execFileSync("uname", ["-r"], { encoding: "utf8" }).trim(),
    runsc: execFileSync("timeout", ["10", "runsc", "--version"], { encoding: "utf8" }).split("\n")[0],
    platform: "systrap",
    loadAvgAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
  },
  suitesRun: selected,
  suites: {},
  goals: [],
};

let failed = false;
for (const name of selected) {
  const t0 = Date.now();
  log(`suite ${name}`);
  try {
    const suite = await import(`./suites/${name}.mjs`);
    report.suites[name] = await suite.run(ctx);
  } catch (err) {
    failed = true;
    log(`suite ${name} failed: ${err?.stack ?? err}`);
    report.suites[name] = { error: String(err?.stack ?? err) };
  } finally {
    for (const fn of [...ctx.cleanups].reverse()) await fn().catch((e) => log(`cleanup failed: ${e}`));
    ctx.cleanups.clear();
  }
  report.suites[name].durationS = Math.round((Date.now() - t0) / 100) / 10;
  for (const [goalName, g] of Object.entries(report.suites[name].goals ?? {})) {
    report.goals.push({ suite: name, name: goalName, ...g });
  }
}
report.host.loadAvgAtEnd = loadavg().map((x) => Math.round(x * 100) / 100);
report.durationS = Math.round((Date.now() - started) / 100) / 10;

const all = selected.length === ALL_SUITES.length;
const latest = join(root, "bench", "results", "latest.json");
const merge = process.env.BENCH_MERGE === "1" && !all && !failed;
const out =
  process.env.BENCH_OUT ??
  (all || merge ? latest : join(root, "bench", "results", `partial-${selected.join("-")}.json`));
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(merge ? mergedInto(out, report) : report, null, 2)}\n`);

/**
 * BENCH_MERGE=1: the suites of this run replace their own entries (results and goals) in an
 * existing complete report; the rest of it, its date and host included, stays as it was, and
 * `mergedSuites` records which suites came from which run.
 */
function mergedInto(path, part) {
  const base = JSON.parse(readFileSync(path, "utf8"));
  const suites = { ...base.suites, ...part.suites };
  const goals = [...base.goals.filter((g) => !part.suitesRun.includes(g.suite)), ...part.goals];
  const mergedSuites = { ...(base.mergedSuites ?? {}) };
  for (const name of part.suitesRun) mergedSuites[name] = { date: part.date, host: part.host };
  const suitesRun = [...new Set([...base.suitesRun, ...part.suitesRun])];
  return { ...base, suitesRun, suites, goals, mergedSuites };
}

const width = Math.max(...report.goals.map((g) => `${g.suite}.${g.name}`.length), 10);
console.log(`\n${"goal".padEnd(width)}  ${"actual".padStart(10)}  ${"target".padStart(12)}  met`);
for (const g of report.goals) {
  const target = `${g.comparison} ${g.goal} ${g.unit}`;
  console.log(
    `${`${g.suite}.${g.name}`.padEnd(width)}  ${String(g.actual).padStart(10)}  ${target.padStart(12)}  ${g.met ? "yes" : "NO"}`,
  );
}
log(`wrote ${out} in ${report.durationS} s`);
process.exit(failed ? 1 : 0);
