// Suite "templates" (issue 12): what a template build costs, and what its cache saves.
//   1. A 5-step Dockerfile whose first step installs a Debian package (apt over HTTP from Debian's
//      mirror, the one network this host reaches): first build, then a rebuild after changing
//      only the last step (goal ≤ 0.1 × the first build).
//   2. A template whose start command is a server that takes BENCH_TPL_BOOT_S (2 s) to boot:
//      create → first exec (create answers once ready), against a cold create of base.
//   3. Disk: BENCH_TPL_COUNT (10) templates, each one small step on base: the layers they add
//      against the size of the base layer they share.
//
//   BENCH_TPL_BOOT_S   seconds the start command sleeps before it listens (default 2)
//   BENCH_TPL_COUNT    templates for the disk measurement (default 10)
//   BENCH_TPL_N        creates per variant in part 2 (default 5)
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { Sandbox, Templates } from "@burrow/sdk";
import { startServer } from "../lib/server.mjs";
import { goal, ratio, round, summarize, timeIt } from "../lib/stats.mjs";

const BOOT_S = Number(process.env.BENCH_TPL_BOOT_S ?? 2);
const COUNT = Number(process.env.BENCH_TPL_COUNT ?? 10);
const N = Number(process.env.BENCH_TPL_N ?? 5);

const duKb = (path) =>
  Number(execFileSync("du", ["-sk", "--one-file-system", path], { encoding: "utf8" }).split("\t")[0]);

const fiveSteps = (last) => `FROM base
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends jq >/dev/null && rm -rf /var/lib/apt/lists/*
ENV APP=/opt/app
RUN mkdir -p $APP && jq -n '{"built": true}' > $APP/config.json
WORKDIR /opt/app
RUN echo ${last} > last.txt
`;

export async function run({ templatesDir, log, cleanups }) {
  const server = await startServer({ BURROW_WARM_POOL: "", BURROW_NETWORK_PREFIX: "10.196" });
  const created = [];
  cleanups.add(() => server.dispose(created));
  const opts = { apiUrl: server.url, apiKey: server.apiKey };
  const results = {};

  // ── 1. first build vs rebuild after the last step changed ─────────────────────────────────
  log("templates: 5-step Dockerfile, first build (apt-get install jq) and a rebuild with the last step changed");
  let firstBuild;
  const firstMs = await timeIt(async () => {
    firstBuild = await Templates.build("bench-app", { ...opts, dockerfile: fiveSteps("one") });
  });
  let rebuild;
  const rebuildMs = await timeIt(async () => {
    rebuild = await Templates.build("bench-app", { ...opts, dockerfile: fiveSteps("two") });
  });
  results.rebuild = {
    firstBuildMs: round(firstMs),
    rebuildLastStepChangedMs: round(rebuildMs),
    firstBuildCacheHits: firstBuild.cacheHits,
    rebuildCacheHits: rebuild.cacheHits,
    layerSteps: rebuild.stepsTotal,
  };

  // ── 2. a template whose start command takes BOOT_S to be ready ─────────────────────────────
  log(`templates: create → first exec of a template whose server boots in ${BOOT_S} s (n=${N})`);
  await Templates.build("bench-boot", {
    ...opts,
    dockerfile: `FROM base
CMD ["sh", "-c", "sleep ${BOOT_S}; exec python3 -m http.server 8000 --directory /etc"]
HEALTHCHECK CMD curl -sf -o /dev/null http://127.0.0.1:8000/hostname
`,
  });
  const bootCreate = [];
  const plainCreate = [];
  for (let i = 0; i < N; i++) {
    for (const [template, samples] of [
      ["bench-boot", bootCreate],
      ["base", plainCreate],
    ]) {
      let sb;
      samples.push(
        await timeIt(async () => {
          sb = await Sandbox.create({ ...opts, template });
          await sb.commands.run("true");
        }),
      );
      created.push(sb.sandboxId);
      await sb.kill();
    }
  }
  results.startCommand = {
    bootSeconds: BOOT_S,
    createToFirstExecWithBoot: summarize(bootCreate),
    coldCreateToFirstExecPlain: summarize(plainCreate),
    snapshotTemplate: null,
    note: "snapshot templates (memory kept, start command already running) are not implemented yet",
  };

  // ── 3. disk of COUNT templates sharing the base layer ─────────────────────────────────────
  log(`templates: disk of ${COUNT} templates on base`);
  const layersDir = join(server.dataDir, "layers");
  const before = duKb(layersDir);
  for (let i = 0; i < COUNT; i++) {
    await Templates.build(`bench-disk-${i}`, {
      ...opts,
      dockerfile: `FROM base\nRUN echo ${i} > /template-${i}.txt\n`,
    });
  }
  const addedKb = duKb(layersDir) - before;
  const baseKb = duKb(join(templatesDir, "base", "rootfs"));
  results.disk = {
    templates: COUNT,
    layersAddedKib: addedKb,
    baseLayerKib: baseKb,
    addedVsOneBase: baseKb > 0 ? round(addedKb / baseKb, 5) : null,
  };

  return {
    results,
    ratios: {
      rebuildVsFirstBuild: ratio(rebuildMs, firstMs),
      createWithBootVsPlainCreateP50: ratio(
        results.startCommand.createToFirstExecWithBoot.p50,
        results.startCommand.coldCreateToFirstExecPlain.p50,
      ),
      diskOfTemplatesVsOneBase: results.disk.addedVsOneBase,
    },
    goals: {
      rebuildAfterLastStepChangeVsFirstBuild: goal(0.1, ratio(rebuildMs, firstMs), { unit: "x" }),
      snapshotTemplateStartVsRawRestore: goal(1.3, null, {
        unit: "x",
        note: "not measurable yet: snapshot templates are not implemented",
      }),
    },
  };
}
