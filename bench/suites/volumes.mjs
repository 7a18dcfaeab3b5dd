// Suite "volumes" (issue 19): file I/O on a volume (an ext4 image loop-mounted on the host and
// bind-mounted through gVisor's gofer) against the same I/O on the sandbox's own root file system
// (the overlay upper dir through the gofer), in one sandbox, in the same run. Python in the
// sandbox measures; each measurement alternates volume and rootfs, and the median of the rounds counts.
//
//   sequential write: BENCH_VOLUMES_MB MiB in 1 MiB writes (default 256); the goal's number is
//                     the writes alone, `writeFsyncMBps` also counts the fsync after them (reported,
//                     no goal: the rootfs's fsync does not wait for the disk, the volume's does;
//                     docs/volumes.md)
//   sequential read:  the same file read back in 1 MiB reads (page cache as the sandbox leaves it)
//   small files:      BENCH_VOLUMES_FILES files of 1 KiB created, then each stat-ed (default 2000)
//   BENCH_VOLUMES_ROUNDS rounds (default 3). Goal: every volume/rootfs ratio ≥ 0.8 (issue 19).
import { Sandbox, Volumes } from "@burrow/sdk";
import { startServer } from "../lib/server.mjs";
import { goal, ratio } from "../lib/stats.mjs";

const MB = Number(process.env.BENCH_VOLUMES_MB ?? 256);
const FILES = Number(process.env.BENCH_VOLUMES_FILES ?? 2000);
const ROUNDS = Number(process.env.BENCH_VOLUMES_ROUNDS ?? 3);

/** Prints {writeMBps, readMBps, createPerS, statPerS} for one directory. */
const IO_PY = `
import json, os, shutil, sys, time
d, mb, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
work = os.path.join(d, "bench-io")
shutil.rmtree(work, ignore_errors=True); os.makedirs(work)
buf = os.urandom(1 << 20); path = os.path.join(work, "seq")
t = time.perf_counter()
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for _ in range(mb): os.write(fd, buf)
write = mb / (time.perf_counter() - t)
os.fsync(fd); os.close(fd)
write_fsync = mb / (time.perf_counter() - t)
t = time.perf_counter()
fd = os.open(path, os.O_RDONLY)
while os.read(fd, 1 << 20): pass
os.close(fd)
read = mb / (time.perf_counter() - t)
small = os.path.join(work, "small"); os.makedirs(small); data = b"x" * 1024
t = time.perf_counter()
for i in range(files):
    with open(os.path.join(small, f"f{i}"), "wb") as f: f.write(data)
create = files / (time.perf_counter() - t)
t = time.perf_counter()
for i in range(files): os.stat(os.path.join(small, f"f{i}"))
stat = files / (time.perf_counter() - t)
shutil.rmtree(work)
print(json.dumps({"writeMBps": write, "readMBps": read, "createPerS": create, "statPerS": stat, "writeFsyncMBps": write_fsync}))
`;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round1 = (x) => Math.round(x * 10) / 10;

export async function run({ log, cleanups }) {
  const server = await startServer({ BURROW_WARM_POOL: "", BURROW_NETWORK_PREFIX: "10.190" });
  const ids = [];
  cleanups.add(() => server.dispose(ids));
  const opts = { apiUrl: server.url, apiKey: server.apiKey };
  await Volumes.create("bench", { ...opts, sizeBytes: Math.max(1024, MB * 2 + 256) * 2 ** 20 });
  const sb = await Sandbox.create({
    ...opts,
    volumes: [{ name: "bench", path: "/vol" }],
    lifecycle: { standbyAfterMs: 0, hibernateAfterMs: 0 },
  });
  ids.push(sb.sandboxId);
  await sb.files.write("/tmp/io.py", IO_PY);
  const places = { volume: "/vol", rootfs: "/home/user" };
  const samples = { volume: [], rootfs: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, dir] of r % 2 === 0 ? Object.entries(places) : Object.entries(places).reverse()) {
      log(`volumes: round ${r + 1}/${ROUNDS}, ${name} (${MB} MiB, ${FILES} small files)`);
      const out = await sb.commands.run(`python3 /tmp/io.py ${dir} ${MB} ${FILES}`, { timeoutMs: 600_000 });
      samples[name].push(JSON.parse(out.stdout));
    }
  }
  const summary = (name) =>
    Object.fromEntries(
      ["writeMBps", "readMBps", "createPerS", "statPerS", "writeFsyncMBps"].map((k) => [
        k,
        round1(median(samples[name].map((s) => s[k]))),
      ]),
    );
  const volume = summary("volume");
  const rootfs = summary("rootfs");
  const ratios = Object.fromEntries(
    Object.keys(volume).map((k) => [`${k}VolumeVsRootfs`, ratio(volume[k], rootfs[k])]),
  );
  const goalRatios = Object.entries(ratios).filter(([k]) => !k.startsWith("writeFsync"));
  await sb.kill();
  ids.length = 0;
  await Volumes.delete("bench", opts);
  const note = "volume / rootfs in the same sandbox (issue 19: ≥ 0.8)";
  return {
    results: { volume, rootfs, rounds: ROUNDS, sequentialMiB: MB, smallFiles: FILES, samples },
    ratios,
    goals: Object.fromEntries(goalRatios.map(([k, v]) => [k, goal(0.8, v, { unit: "x", comparison: ">=", note })])),
  };
}
