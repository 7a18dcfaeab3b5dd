// Suite "limits" (issue 16): what enforced limits add to a create. CPU, memory and pids limits are
// cgroup values runsc writes at start (no step of their own); the disk is a step: a sparse ext4
// image made, loop-mounted and bound per sandbox. A warm-pool sandbox has its disk made while the
// pool fills, so a warm create pays nothing for it; a cold create pays the disk step.
//
//   BENCH_LIMITS_N_DISK    disk steps (create, mount, unmount) timed alone (default 20)
//   BENCH_LIMITS_N_CREATE  cold creates → first exec, default 10 GiB disk and a 256 MiB one (default 8)
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createSandboxDisk, SpawnRunner, unmountSandboxDisk } from "@burrow/runtime";
import { Sandbox } from "@burrow/sdk";
import { startServer } from "../lib/server.mjs";
import { ratio, summarize, timeIt } from "../lib/stats.mjs";
import { firstOutput } from "./slice.mjs";

const N_DISK = Number(process.env.BENCH_LIMITS_N_DISK ?? 20);
const N_CREATE = Number(process.env.BENCH_LIMITS_N_CREATE ?? 8);

export async function run({ log, cleanups }) {
  log(`limits: disk step alone, 10 GiB sparse ext4 (n=${N_DISK})`);
  const runner = new SpawnRunner();
  const base = mkdtempSync("/tmp/bb-disk-");
  cleanups.add(async () => {
    for (let i = 0; i < N_DISK; i++) await unmountSandboxDisk(runner, join(base, `sb${i}`));
    rmSync(base, { recursive: true, force: true });
  });
  const make = [];
  const teardown = [];
  for (let i = 0; i < N_DISK; i++) {
    const dir = join(base, `sb${i}`);
    mkdirSync(dir);
    make.push(await timeIt(() => createSandboxDisk(runner, dir, 10_240)));
    teardown.push(await timeIt(() => unmountSandboxDisk(runner, dir)));
    rmSync(dir, { recursive: true, force: true });
  }
  rmSync(base, { recursive: true, force: true });

  const server = await startServer({ BURROW_NETWORK_PREFIX: "10.187" });
  const created = [];
  cleanups.add(() => server.dispose(created));
  const cold = async (resources) => {
    const samples = [];
    for (let i = 0; i < N_CREATE; i++) {
      let sb;
      samples.push(
        await timeIt(async () => {
          sb = await Sandbox.create({
            apiUrl: server.url,
            apiKey: server.apiKey,
            resources,
            lifecycle: { standbyAfterMs: 0, hibernateAfterMs: 0 },
          });
          await firstOutput(sb);
        }),
      );
      await sb.kill();
    }
    return summarize(samples);
  };
  log(`limits: cold create → first exec, 10 GiB disk (n=${N_CREATE})`);
  const coldDefault = await cold(undefined);
  log(`limits: cold create → first exec, 256 MiB disk, 1 vCPU, 512 MiB, 256 pids (n=${N_CREATE})`);
  const coldSmall = await cold({ diskMb: 256, vcpus: 1, memoryMb: 512, pids: 256 });
  await server.dispose(created);
  cleanups.clear();
  await runner.close();

  const diskMake = summarize(make);
  return {
    results: {
      diskStepMs: { create: diskMake, unmount: summarize(teardown) },
      coldCreateToFirstExecMs: { defaultLimits: coldDefault, smallLimits: coldSmall },
    },
    ratios: {
      diskStepP50ShareOfColdCreate: ratio(diskMake.p50, coldDefault.p50),
      smallVsDefaultLimitsColdCreateP50: ratio(coldSmall.p50, coldDefault.p50),
    },
    goals: {},
  };
}
