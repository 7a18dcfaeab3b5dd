// Suite "checkpoints" (issues 4, 17): live full and fs checkpoints with changed files, restore,
// fork ×N (fs, and full: memory carried) and the bytes stored when nothing changed; against raw
// runsc in the same run.
//
//   BENCH_CK_MB        touched memory of the background process in MB (default 100)
//   BENCH_CK_FILES     files changed before each checkpoint (default 1000)
//   BENCH_N_CK_FULL    live full checkpoints (each after changing the files; default 3)
//   BENCH_N_CK_FS      fs checkpoints (each after changing the files; default 5)
//   BENCH_N_CK_RESTORE restores per mode (default 3)
//   BENCH_CK_FORKS     forks in one call (default 10)
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Sandbox } from "@burrow/sdk";
import { RawRunsc, rawId } from "../lib/raw-runsc.mjs";
import { ALLOC_PY, dirSizeMb, timedRetryingConflicts, until } from "../lib/sandbox-work.mjs";
import { startServer } from "../lib/server.mjs";
import { goal, ratio, round, summarize, timeIt } from "../lib/stats.mjs";

const MB = Number(process.env.BENCH_CK_MB ?? 100);
const FILES = Number(process.env.BENCH_CK_FILES ?? 1000);
const N_FULL = Number(process.env.BENCH_N_CK_FULL ?? 3);
const N_FS = Number(process.env.BENCH_N_CK_FS ?? 5);
const N_RESTORE = Number(process.env.BENCH_N_CK_RESTORE ?? 3);
const FORKS = Number(process.env.BENCH_CK_FORKS ?? 10);
/** A larger unchanged file in the source, so the fork disk comparison has something to share. */
const BIG_MB = 20;
const NO_AUTO_SLEEP = { standbyAfterMs: 0, hibernateAfterMs: 0 };

/** Rewrites FILES files of 1 KiB (new random contents each time) under a directory. */
const CHANGE_PY = `import os, sys
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
for i in range(int(sys.argv[2])):
    with open(f"{d}/f{i:04d}.txt", "w") as f:
        f.write(os.urandom(512).hex())
`;

const duKb = (path) => Number(execFileSync("du", ["-sk", path], { encoding: "utf8" }).split("\t")[0]);

/**
 * Checkpoint create, retried on a 409 "open connections" refusal (counted), timed: `ms` until the
 * call answers (the sandbox runs again), `storedMs` until the checkpoint is in the blob store.
 * `ck` is the stored record (storedBytes known).
 */
async function timedCheckpoint(sb, mode, stats) {
  const t0 = performance.now();
  const { ms, value } = await timedRetryingConflicts(() => sb.checkpoints.create({ mode }), stats, 10);
  let ck = value;
  while (ck.status !== "ready") {
    await new Promise((r) => setTimeout(r, 5));
    ck = await sb.checkpoints.get(value.id);
  }
  return { ms, storedMs: performance.now() - t0, ck };
}

const kib = (b) => round(b / 1024, 1);

/** `n` checkpoints of `mode`, each after `change()`: their call, until-stored and paused times, stored bytes, and the last one. */
async function changedCheckpoints(sb, mode, n, change, retries) {
  const out = { ms: [], untilStored: [], paused: [], stored: [], last: undefined };
  for (let i = 0; i < n; i++) {
    await change();
    const { ms, storedMs, ck } = await timedCheckpoint(sb, mode, retries);
    out.ms.push(ms);
    out.untilStored.push(storedMs);
    out.paused.push(ck.pausedMs);
    out.stored.push(ck.storedBytes);
    out.last = ck;
  }
  return out;
}

export async function run({ templatesDir, agentBinary, log, cleanups }) {
  const results = {};
  const ratios = {};
  const goals = {};
  const raw = new RawRunsc(mkdtempSync("/tmp/br-"), join(templatesDir, "base", "rootfs"), agentBinary, {
    networkPrefix: "10.255",
  });
  cleanups.add(() => raw.cleanupAll());
  const server = await startServer({ BURROW_WARM_POOL: "", BURROW_NETWORK_PREFIX: "10.199" });
  const created = [];
  cleanups.add(() => server.dispose(created));
  const opts = { apiUrl: server.url, apiKey: server.apiKey };
  const retries = { conflicts: 0 };

  // ── source sandbox: MB touched by a background process, a BIG_MB file, FILES small files ──
  log(`checkpoints: source sandbox with ${MB} MB touched, ${FILES} files`);
  const sb = await Sandbox.create({ ...opts, lifecycle: NO_AUTO_SLEEP });
  created.push(sb.sandboxId);
  await sb.files.write("/tmp/alloc.py", ALLOC_PY);
  await sb.files.write("/tmp/change.py", CHANGE_PY);
  const handle = await sb.commands.run(`exec python3 /tmp/alloc.py ${MB}`, { background: true, timeoutMs: 0 });
  await handle.disconnect();
  await until(`${MB} MB allocated`, () => sb.files.exists("/tmp/alloc-ready"), 120_000);
  const pid = (await sb.files.read("/tmp/alloc-ready")).trim();
  await sb.commands.run(`head -c ${BIG_MB}M /dev/urandom > /home/user/big.bin`);
  const change = () => sb.commands.run(`python3 /tmp/change.py /home/user/changes ${FILES}`);
  await change();

  // ── 1. live full checkpoints, each after changing FILES files ──────────────────────────────
  log(`checkpoints: live full checkpoint (n=${N_FULL} + first)`);
  const first = await timedCheckpoint(sb, "full", retries);
  const full = await changedCheckpoints(sb, "full", N_FULL, change, retries);
  // A full checkpoint right after another: what does the memory image add?
  const fullAgain = await timedCheckpoint(sb, "full", retries);

  // ── 2. fs checkpoints, each after changing FILES files; then one with nothing changed ──────
  log(`checkpoints: fs checkpoint (n=${N_FS})`);
  const fs = await changedCheckpoints(sb, "fs", N_FS, change, retries);
  const fsUnchanged = await timedCheckpoint(sb, "fs", retries);
  const fsUnchanged2 = await timedCheckpoint(sb, "fs", retries);

  // ── 3. restore, fs and full ─────────────────────────────────────────────────────────────────
  log(`checkpoints: restore fs / full (n=${N_RESTORE} each)`);
  const restoreFs = [];
  const restoreFull = [];
  const firstExecAfterFull = [];
  for (let i = 0; i < N_RESTORE; i++) {
    restoreFull.push(await timeIt(() => sb.checkpoints.restore(full.last.id)));
    firstExecAfterFull.push(await timeIt(() => sb.files.exists("/tmp/alloc-ready")));
    restoreFs.push(await timeIt(() => sb.checkpoints.restore(fs.last.id)));
  }
  // Last: back to the full checkpoint, and the Python process must be the same one.
  await sb.checkpoints.restore(full.last.id);
  const alive = await sb.commands.run(`kill -0 ${pid} && echo alive`).then(
    (r) => r.stdout.trim() === "alive",
    () => false,
  );
  const restoredFiles = Number(
    (await sb.commands.run(`ls /home/user/changes | wc -l`).catch(() => ({ stdout: "" }))).stdout.trim(),
  );

  // ── 4. fork ×FORKS in one call ──────────────────────────────────────────────────────────────
  log(`checkpoints: fork ×${FORKS}`);
  let forkIds = [];
  const forkMs = await timeIt(async () => {
    forkIds = (await sb.checkpoints.fork(fs.last.id, { count: FORKS })).sandboxIds;
  });
  created.push(...forkIds);
  const forkSeesFiles = Number(
    (
      await (
        await Sandbox.connect(forkIds[0], opts)
      ).commands
        .run(`ls /home/user/changes | wc -l`)
        .catch(() => ({ stdout: "" }))
    ).stdout.trim(),
  );
  const sandboxesDir = join(server.dataDir, "sandboxes");
  const forkUpperKb = forkIds.map((id) => duKb(join(sandboxesDir, id, "upper")));
  const sourceUpperKb = duKb(join(sandboxesDir, sb.sandboxId, "upper"));
  const snapshotsDir = join(server.dataDir, "snapshots");
  const snapshotKb = duKb(snapshotsDir);
  const blobsKb = duKb(join(server.dataDir, "blobs"));
  for (const id of forkIds) await server.api("DELETE", `/v1/sandboxes/${id}`);

  // ── 5. fork ×FORKS of the last full checkpoint: memory carried into every fork ──────────────
  log(`checkpoints: fork ×${FORKS} with memory`);
  let memFork = { sandboxIds: [], processes: "" };
  const memForkMs = await timeIt(async () => {
    memFork = await sb.checkpoints.fork(full.last.id, { count: FORKS });
  });
  created.push(...memFork.sandboxIds);
  // Each fork's own start (restore into its identity → agent answering with its token), from its event.
  const memForkStartMs = [];
  const memForkFirstExecMs = [];
  let memForksWithSameProcess = 0;
  for (const forkId of memFork.sandboxIds) {
    const f = await Sandbox.connect(forkId, opts);
    const ev = (await f.events()).find((e) => e.type === "created" && typeof e.durationMs === "number");
    if (ev) memForkStartMs.push(ev.durationMs);
    memForkFirstExecMs.push(await timeIt(() => f.files.exists("/tmp/alloc-ready")));
    // The Python process holding MB is there, with the pid it had in the source.
    const same = await f.commands.run(`kill -0 ${pid} && echo alive`).then(
      (r) => r.stdout.trim() === "alive",
      () => false,
    );
    if (same) memForksWithSameProcess++;
  }
  for (const forkId of memFork.sandboxIds) await server.api("DELETE", `/v1/sandboxes/${forkId}`);
  await sb.kill();

  // ── raw: runsc checkpoint of the same touched memory, and a copy of FILES changed files ────
  log(`checkpoints: raw runsc checkpoint with ${MB} MB (n=${N_FULL}) and cp of ${FILES} files`);
  const id = rawId();
  await raw.prepare(id, {
    args: [
      "/bin/sh",
      "-c",
      `python3 /tmp/alloc.py ${MB} </dev/null >/dev/null 2>&1 & exec /opt/burrow/bin/burrow-agent --port 49983`,
    ],
  });
  writeFileSync(join(raw.dir(id), "rootfs", "tmp", "alloc.py"), ALLOC_PY);
  writeFileSync(join(raw.dir(id), "rootfs", "tmp", "change.py"), CHANGE_PY);
  await raw.start(id);
  await raw.waitAgent(id);
  const readyFile = join(raw.dir(id), "rootfs", "tmp", "alloc-ready");
  await until(`raw ${MB} MB allocated`, () => {
    try {
      return readFileSync(readyFile, "utf8").length > 0;
    } catch {
      return false;
    }
  });
  const image = join(raw.dir(id), "image");
  const rawCheckpoint = [];
  const rawRestoreToAgent = [];
  let rawImageMb = null;
  // The same state as Burrow's source sandbox: the 20 MB file, and the files rewritten (by a
  // process in the sandbox, so gVisor caches them too) before each checkpoint, untimed.
  const rawChange = () => raw.exec(id, ["python3", "/tmp/change.py", "/home/user/changes", String(FILES)]);
  await raw.exec(id, ["/bin/sh", "-c", `head -c ${BIG_MB}M /dev/urandom > /home/user/big.bin`]);
  for (let i = 0; i < N_FULL; i++) {
    await rawChange();
    await raw.waitNoConnections(id);
    rawCheckpoint.push(await timeIt(() => raw.checkpoint(id, image)));
    rawImageMb = dirSizeMb(image);
    await raw.afterCheckpoint(id);
    const t0 = performance.now();
    await raw.restore(id, image);
    await raw.waitAgent(id);
    rawRestoreToAgent.push(performance.now() - t0);
    rmSync(image, { recursive: true, force: true });
  }
  await raw.destroy(id);
  // The copy floor: FILES freshly written 1 KiB files (in the page cache, as the sandbox's are)
  // copied with `cp -a` to another directory on the same file system.
  const copy = [];
  const copyBase = join(raw.baseDir, "copy");
  for (let i = 0; i < Math.max(N_FULL, N_FS); i++) {
    const src = join(copyBase, `src${i}`);
    mkdirSync(src, { recursive: true });
    for (let f = 0; f < FILES; f++)
      writeFileSync(join(src, `f${String(f).padStart(4, "0")}.txt`), randomBytes(512).toString("hex"));
    copy.push(await timeIt(() => execFileSync("cp", ["-a", src, join(copyBase, `dst${i}`)])));
  }
  rmSync(copyBase, { recursive: true, force: true });

  const s = (x) => summarize(x);
  results.fullCheckpoint = {
    burrow: {
      api: s(full.ms),
      untilStored: s(full.untilStored),
      pausedMs: s(full.paused),
      storedKib: s(full.stored.map(kib)),
      firstFullCheckpointMs: round(first.ms),
      firstFullCheckpointPausedMs: first.ck.pausedMs,
      firstFullCheckpointStoredMib: round(first.ck.storedBytes / 1048576, 1),
      sizeMib: round(full.last.sizeBytes / 1048576, 1),
      fileCount: full.last.fileCount,
    },
    raw: {
      runscCheckpoint: s(rawCheckpoint),
      runscRestoreToFirstAgentAnswer: s(rawRestoreToAgent),
      imageMb: rawImageMb,
      cpChangedFiles: s(copy),
    },
  };
  const rawFloor = s(rawCheckpoint).p50 + s(copy).p50;
  results.fullCheckpoint.raw.checkpointPlusCopyP50 = round(rawFloor);
  results.fsCheckpoint = {
    burrow: { api: s(fs.ms), untilStored: s(fs.untilStored), pausedMs: s(fs.paused), storedKib: s(fs.stored.map(kib)) },
    raw: { cpChangedFiles: s(copy) },
  };
  results.unchanged = {
    fsSecondCheckpointStoredBytes: fsUnchanged2.ck.storedBytes,
    fsSecondCheckpointMs: round(fsUnchanged2.ms),
    fsSecondCheckpointPausedMs: fsUnchanged2.ck.pausedMs,
    fsFirstAfterFsChangesStoredBytes: fsUnchanged.ck.storedBytes,
    fullSecondCheckpointStoredKib: kib(fullAgain.ck.storedBytes),
  };
  results.restore = {
    burrow: {
      fs: s(restoreFs),
      full: s(restoreFull),
      firstEnvdCallAfterFullRestore: s(firstExecAfterFull),
      sameProcessAfterFullRestores: alive,
      filesAfterFullRestore: restoredFiles,
    },
    raw: { runscRestoreToFirstAgentAnswer: s(rawRestoreToAgent) },
  };
  results.fork = {
    count: FORKS,
    apiMs: round(forkMs),
    perForkMs: round(forkMs / FORKS),
    forkSeesChangedFiles: forkSeesFiles,
    forkUpperKib: { total: forkUpperKb.reduce((a, b) => a + b, 0), max: Math.max(...forkUpperKb) },
    sourceUpperKib: sourceUpperKb,
    sharedSnapshotKib: snapshotKb,
    blobStoreKib: blobsKb,
  };
  results.forkWithMemory = {
    count: FORKS,
    processes: memFork.processes,
    apiMs: round(memForkMs),
    perForkStartMs: s(memForkStartMs),
    firstEnvdCallMs: s(memForkFirstExecMs),
    forksWithTheSourceProcess: memForksWithSameProcess,
  };
  results.checkpointRefusedOpenConnections = retries.conflicts;

  ratios.fullCheckpointP50VsRawCheckpointPlusCopy = ratio(s(full.ms).p50, rawFloor);
  ratios.fullPausedP50VsRawCheckpointPlusCopy = ratio(s(full.paused).p50, rawFloor);
  ratios.fullUntilStoredP50VsRawCheckpointPlusCopy = ratio(s(full.untilStored).p50, rawFloor);
  ratios.fsCheckpointP50VsCp = ratio(s(fs.ms).p50, s(copy).p50);
  ratios.fsUntilStoredP50VsCp = ratio(s(fs.untilStored).p50, s(copy).p50);
  ratios.fullRestoreP50VsRawRestoreToAgent = ratio(s(restoreFull).p50, s(rawRestoreToAgent).p50);
  ratios.forkDiskTotalVsSourceUpper = ratio(results.fork.forkUpperKib.total, sourceUpperKb);
  ratios.memoryForkStartP50VsRawRestoreToAgent = ratio(s(memForkStartMs).p50, s(rawRestoreToAgent).p50);

  goals.liveFullCheckpointVsRawCheckpointPlusCopy = goal(1.2, ratios.fullCheckpointP50VsRawCheckpointPlusCopy, {
    unit: "x",
    note: `full checkpoint API p50 (${MB} MB touched, ${FILES} changed files; the call answers when the sandbox runs again, its copy then goes into the blob store in the background) ÷ (raw runsc checkpoint p50 + cp -a of ${FILES} files p50)`,
  });
  goals.memoryForksTotal = goal(2000, round(memForkMs), {
    unit: "ms",
    note: `one fork(fullCk, {count: ${FORKS}}) call, ${MB} MB touched memory carried into each fork (${memForksWithSameProcess}/${FORKS} forks have the source's process)`,
  });
  goals.memoryForkStartVsRawRestoreToAgent = goal(1.3, ratios.memoryForkStartP50VsRawRestoreToAgent, {
    unit: "x",
    note: "a memory fork's own start p50 (its 'created' event: restore into its id, /30 and token until the agent answers) ÷ raw runsc restore → first agent answer p50",
  });
  goals.unchangedCheckpointStoredBytes = goal(4096, fsUnchanged2.ck.storedBytes, {
    unit: "B",
    note: "storedBytes of an fs checkpoint taken right after another with nothing changed (≈ 0)",
  });
  return { results, ratios, goals };
}
