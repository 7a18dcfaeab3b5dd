// Suite "templates" (issue 12): (a) a Dockerfile rebuild after its last step changed ÷ its first
// build; (b) create → first exec of a template whose start command is a server that takes 2 s to
// boot (cold create + boot), against a plain cold create; (c) disk of 10 templates sharing the
// base layer. Every sandbox is deleted and the server's data dir removed at the end.
//
// (a) works offline: the build context carries .deb files from the host's apt cache
// (/var/cache/apt/archives: m4, bison, autoconf, autotools-dev, automake, busybox, bible-kjv-text;
// about 5.5 MB), and the install step runs `dpkg -i` on them inside the build sandbox.
//
//   BENCH_TPL_BOOT_S   seconds the start command sleeps before it listens (default 2)
//   BENCH_TPL_COUNT    templates in (c) (default 10)
//   BENCH_TPL_N        creates per kind in (b) (default 5)
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Sandbox } from "@burrow/sdk";
import { RawRunsc, rawId } from "../lib/raw-runsc.mjs";
import { startServer } from "../lib/server.mjs";
import { goal, round, summarize, timeIt } from "../lib/stats.mjs";

const BOOT_S = Number(process.env.BENCH_TPL_BOOT_S ?? 2);
const N_DISK = Number(process.env.BENCH_TPL_COUNT ?? 10);
const N_CREATE = Number(process.env.BENCH_TPL_N ?? 5);
const APT_CACHE = "/var/cache/apt/archives";
const DEBS = ["m4_", "bison_", "autoconf_", "autotools-dev_", "automake_", "busybox_", "bible-kjv-text_"];

/** A context archive (tar) of the chosen .debs under debs/; returns its path. */
function debContext(dir) {
  const files = readdirSync(APT_CACHE);
  mkdirSync(join(dir, "debs"));
  for (const prefix of DEBS) {
    const deb = files.find((f) => f.startsWith(prefix) && f.endsWith(".deb"));
    if (!deb) throw new Error(`${prefix}*.deb is not in ${APT_CACHE}`);
    copyFileSync(join(APT_CACHE, deb), join(dir, "debs", deb.replaceAll("%3a", "_")));
  }
  const tar = join(dir, "context.tar");
  execFileSync("tar", ["-C", dir, "-cf", tar, "debs"]);
  return tar;
}

/** 5 steps; the install is the first that does work (after copying the packages in). */
const dockerfile = (last) => `FROM base
COPY debs/ /tmp/debs/
RUN dpkg -i /tmp/debs/*.deb && rm -rf /tmp/debs && autoconf --version >/dev/null && bison --version >/dev/null
ENV APP_HOME=/srv/app
RUN mkdir -p /srv/app && echo built > /srv/app/stamp
RUN echo ${last} > /srv/app/version
`;

/** The booting server's command without the boot wait, and its check (raw sandboxes run them too). */
const SERVED_CMD =
  "mkdir -p /srv/www && echo booted > /srv/www/index.html && exec python3 -m http.server 8000 --directory /srv/www";
const SERVER_CHECK = ["curl", "-sf", "http://127.0.0.1:8000/"];

const BOOTING_SERVER = {
  startCmd: `sleep ${BOOT_S}; mkdir -p /srv/www && echo booted > /srv/www/index.html && exec python3 -m http.server 8000 --directory /srv/www`,
  readyCmd: "curl -sf http://127.0.0.1:8000/ >/dev/null",
  readyTimeoutMs: 60_000,
};

/** Disk blocks (bytes) a directory tree uses, hard links counted once. */
function du(...paths) {
  const existing = paths.filter((p) => existsSync(p));
  if (existing.length === 0) return 0;
  const out = execFileSync("du", ["-s", "-B1", "-c", ...existing], { encoding: "utf8" })
    .trim()
    .split("\n");
  return Number.parseInt(out.at(-1) ?? "0", 10);
}

export async function run({ templatesDir, agentBinary, log, cleanups }) {
  const server = await startServer({ BURROW_WARM_POOL: "", BURROW_NETWORK_PREFIX: "10.193" });
  const ids = [];
  let disposed = false;
  cleanups.add(async () => {
    if (!disposed) await server.dispose(ids);
  });
  const work = mkdtempSync("/tmp/bt-");
  cleanups.add(async () => rmSync(work, { recursive: true, force: true }));
  const opts = { apiUrl: server.url, apiKey: server.apiKey };

  const build = async (name, body) => {
    const started = await server.api("POST", `/v1/templates/${name}/builds`, body);
    if (started.status !== 202) throw new Error(`build ${name}: ${started.status} ${JSON.stringify(started.body)}`);
    for (;;) {
      const b = (await server.api("GET", `/v1/template-builds/${started.body.id}`)).body;
      if (b.status === "ready") return b;
      if (b.status === "failed" || b.status === "error") throw new Error(`build ${name} failed: ${JSON.stringify(b)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  // (a) First build, then a rebuild with only the last step changed.
  const tar = debContext(work);
  // A context lives for its build (the server deletes it when the build ends): each build
  // uploads it, outside the timed build, as the CLI does.
  const upload = async () => {
    const res = await fetch(`${server.url}/v1/template-contexts`, {
      method: "POST",
      headers: { Authorization: `Bearer ${server.apiKey}`, "Content-Type": "application/x-tar" },
      body: readFileSync(tar),
    });
    if (res.status !== 201) throw new Error(`context upload: ${res.status} ${await res.text()}`);
    return (await res.json()).hash;
  };
  let contextHash;
  const uploadMs = await timeIt(async () => {
    contextHash = await upload();
  });
  log("templates: first build (installs the packages)");
  let first;
  let second;
  const firstMs = await timeIt(async () => {
    first = await build("bench-app", { dockerfile: dockerfile("v1"), contextHash });
  });
  log("templates: rebuild after changing the last step");
  contextHash = await upload();
  const rebuildMs = await timeIt(async () => {
    second = await build("bench-app", { dockerfile: dockerfile("v2"), contextHash });
  });
  const rebuildRatio = round(rebuildMs / firstMs, 3);

  // (b) create → first exec: plain base (cold), and the template whose server takes 2 s to boot.
  await build("bench-boot", { from: { template: "base" }, steps: [], start: BOOTING_SERVER });
  const createFirstExec = async (template, command) => {
    let sb;
    const ms = await timeIt(async () => {
      sb = await Sandbox.create({ ...opts, template });
      const r = await sb.commands.run(command);
      if (r.exitCode !== 0) throw new Error(`${command}: ${r.exitCode}`);
    });
    ids.push(sb.sandboxId);
    await sb.kill();
    return ms;
  };
  const plain = [];
  const booted = [];
  for (let i = 0; i < N_CREATE; i++) {
    plain.push(await createFirstExec("base", "true"));
    booted.push(await createFirstExec("bench-boot", "curl -sf http://127.0.0.1:8000/"));
  }
  const plainS = summarize(plain);
  const bootedS = summarize(booted);

  // (b') a snapshot template of a sandbox whose server has booted: create → first exec finds it
  // answering at once. Against raw `runsc restore` → first agent answer of a plain sandbox.
  log("templates: snapshot template of the booted server, and raw runsc restore → agent");
  const source = await Sandbox.create({ ...opts, template: "bench-boot" });
  ids.push(source.sandboxId);
  const snap = await server.api("POST", "/v1/templates/bench-snap/from-sandbox", { sandboxId: source.sandboxId });
  if (snap.status !== 201) throw new Error(`from-sandbox: ${snap.status} ${JSON.stringify(snap.body)}`);
  await source.kill();
  const fromSnapshot = [];
  for (let i = 0; i < N_CREATE; i++)
    fromSnapshot.push(await createFirstExec("bench-snap", "curl -sf http://127.0.0.1:8000/"));
  const snapshotS = summarize(fromSnapshot);
  const raw = new RawRunsc(mkdtempSync("/tmp/br-"), join(templatesDir, "base", "rootfs"), agentBinary, {
    networkPrefix: "10.255",
  });
  cleanups.add(() => raw.cleanupAll());
  const rawRestore = [];
  const rawSandbox = rawId();
  await raw.create(rawSandbox);
  await raw.waitAgent(rawSandbox);
  const image = join(raw.dir(rawSandbox), "image");
  for (let i = 0; i < N_CREATE; i++) {
    await raw.waitNoConnections(rawSandbox);
    await raw.checkpoint(rawSandbox, image);
    await raw.afterCheckpoint(rawSandbox);
    const t0 = performance.now();
    await raw.restore(rawSandbox, image);
    await raw.waitAgent(rawSandbox);
    rawRestore.push(performance.now() - t0);
    rmSync(image, { recursive: true, force: true });
  }
  await raw.destroy(rawSandbox);
  const rawRestoreS = summarize(rawRestore);
  // The same, of a raw sandbox running the same server as the snapshot (started through its
  // agent, answering before the checkpoint): raw runsc's restore of the same workload.
  const rawServed = rawId();
  const rawServedRestore = [];
  await raw.create(rawServed);
  await raw.waitAgent(rawServed);
  await raw.startViaAgent(rawServed, "/bin/bash", ["-l", "-c", SERVED_CMD]);
  const served = () =>
    raw.exec(rawServed, SERVER_CHECK).then(
      () => true,
      () => false,
    );
  for (let i = 0; !(await served()); i++) {
    if (i >= 300) throw new Error("the raw sandbox's server did not answer");
    await new Promise((r) => setTimeout(r, 100));
  }
  const servedImage = join(raw.dir(rawServed), "image");
  for (let i = 0; i < N_CREATE; i++) {
    await raw.waitNoConnections(rawServed);
    await raw.checkpoint(rawServed, servedImage);
    await raw.afterCheckpoint(rawServed);
    const t0 = performance.now();
    await raw.restore(rawServed, servedImage);
    await raw.waitAgent(rawServed);
    rawServedRestore.push(performance.now() - t0);
    rmSync(servedImage, { recursive: true, force: true });
  }
  if (!(await served())) throw new Error("the raw server did not survive its restores");
  await raw.destroy(rawServed);
  const rawServedRestoreS = summarize(rawServedRestore);

  // (c) N templates FROM base, each adding a small file: disk of their layers vs base's rootfs.
  const layersDir = join(server.dataDir, "layers");
  const layersBefore = du(layersDir);
  for (let i = 0; i < N_DISK; i++) {
    await build(`bench-disk-${i}`, { dockerfile: `FROM base\nRUN echo template-${i} > /etc/bench-template\n` });
  }
  const layersAddedMb = round((du(layersDir) - layersBefore) / 1e6, 2);
  const baseRootfsMb = round(du(join(templatesDir, "base", "rootfs")) / 1e6, 1);
  const listed = (await server.api("GET", "/v1/templates")).body;

  disposed = true;
  const leftovers = await server.dispose(ids);
  if (leftovers.length > 0) log(`templates: cleaned up leftovers ${leftovers.join(", ")}`);

  return {
    offlinePackages: `dpkg -i of ${DEBS.length} .debs from ${APT_CACHE} copied into the build context`,
    rebuild: {
      contextUploadMs: round(uploadMs, 1),
      firstBuildMs: round(firstMs, 1),
      rebuildLastStepMs: round(rebuildMs, 1),
      ratio: rebuildRatio,
      firstBuildCacheHits: first?.cacheHits,
      rebuildCacheHits: second?.cacheHits,
      layerSteps: second?.stepsTotal,
    },
    createFirstExec: { plainBaseMs: plainS, bootingServerTemplateMs: bootedS, serverBootsInMs: BOOT_S * 1000 },
    disk: {
      templates: N_DISK,
      sharedBaseRootfsMb: baseRootfsMb,
      layersAddedForAllMb: layersAddedMb,
      perTemplateMb: round(layersAddedMb / N_DISK, 3),
      asFullCopiesMb: round(baseRootfsMb * N_DISK, 1),
      templatesListed: Array.isArray(listed?.templates) ? listed.templates.length : undefined,
    },
    snapshotStart: {
      createToFirstExecMs: snapshotS,
      rawRestoreToFirstAgentAnswerMs: rawRestoreS,
      rawRestoreOfTheSameServerMs: rawServedRestoreS,
      vsRawRestore: round(snapshotS.p50 / rawRestoreS.p50, 2),
      vsRawRestoreOfTheSameServer: round(snapshotS.p50 / rawServedRestoreS.p50, 2),
      bootTemplateVsSnapshot: round(bootedS.p50 / snapshotS.p50, 2),
    },
    goals: {
      rebuildLastStepRatio: goal(0.1, rebuildRatio, {
        unit: "×",
        note: "rebuild after the last step changed ÷ first build",
      }),
      snapshotTemplateStartVsRawRestore: goal(1.3, round(snapshotS.p50 / rawServedRestoreS.p50, 2), {
        unit: "×",
        note: "create → first exec from a snapshot of the booted server ÷ raw runsc restore → first agent answer of a raw sandbox running the same server (of a plain sandbox: snapshotStart.vsRawRestore)",
      }),
      snapshotStartFasterThanBoot: goal(5, round(bootedS.p50 / snapshotS.p50, 2), {
        unit: "×",
        comparison: ">=",
        note: "create → first exec of the booting template ÷ the same from its snapshot",
      }),
      diskPerTemplateMb: goal(1, round(layersAddedMb / N_DISK, 3), {
        unit: "MB",
        note: `each of ${N_DISK} templates FROM base adds its own layer only (base rootfs ${baseRootfsMb} MB is shared)`,
      }),
    },
  };
}
