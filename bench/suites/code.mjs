// Suite "code" (issue 14): the code interpreter of the `code-interpreter` template.
// (a) `runCode("1+1")` round trip through the SDK and the server, beside a direct POST /execute to
//     the same in-sandbox service at the sandbox's address (the kernel's own time plus HTTP);
// (b) create → first `runCode` result from a warm pool of the template;
// (c) wake from hibernation with a 200 MB DataFrame loaded → first result, against raw runsc:
//     the same rootfs and service, `runsc restore` → first direct result.
// Every sandbox is deleted and the server's data dir removed at the end.
//
//   BENCH_CODE_N          round trips in (a) (default 50)
//   BENCH_CODE_WARM_N     warm-pool creates in (b) (default 5)
//   BENCH_CODE_WAKE_N     hibernate/wake rounds in (c) (default 3)
//   BENCH_CODE_MB         DataFrame size in (c), MB (default 200)
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Sandbox } from "@burrow/sdk";
import { RawRunsc, rawId } from "../lib/raw-runsc.mjs";
import { startServer } from "../lib/server.mjs";
import { goal, ratio, round, sleep, summarize, timeIt } from "../lib/stats.mjs";

const N = Number(process.env.BENCH_CODE_N ?? 50);
const WARM_N = Number(process.env.BENCH_CODE_WARM_N ?? 5);
const WAKE_N = Number(process.env.BENCH_CODE_WAKE_N ?? 3);
const MB = Number(process.env.BENCH_CODE_MB ?? 200);
const PORT = 49999;
const TEMPLATE = "code-interpreter";

/** A DataFrame of float64 columns taking about `mb` MB (8 bytes a cell, 10 columns). */
const loadFrame = (mb) =>
  `import numpy as np, pandas as pd\nframe = pd.DataFrame(np.random.default_rng(1).random((${Math.round((mb * 1e6) / 80)}, 10)))\nint(frame.memory_usage().sum() // 1_000_000)`;

/** POST /execute straight to a service; resolves the main result's text. */
async function direct(ip, code) {
  const res = await fetch(`http://${ip}:${PORT}/execute`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ code }),
  });
  if (!res.ok) throw new Error(`direct /execute: ${res.status} ${await res.text()}`);
  let text;
  for (const line of (await res.text()).split("\n")) {
    if (line === "") continue;
    const event = JSON.parse(line);
    if (event.type === "error") throw new Error(`direct /execute: ${event.name}: ${event.value}`);
    if (event.type === "result" && event.is_main_result) text = event.text;
  }
  return text;
}

async function until(what, check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

export async function run({ templatesDir, agentBinary, log, cleanups }) {
  const rootfs = join(templatesDir, TEMPLATE, "rootfs");
  if (!existsSync(rootfs)) throw new Error(`${rootfs} missing: run scripts/setup.sh (it builds the template)`);
  const server = await startServer({ BURROW_WARM_POOL: `${TEMPLATE}=1`, BURROW_NETWORK_PREFIX: "10.192" });
  const ids = [];
  let disposed = false;
  cleanups.add(async () => {
    if (!disposed) await server.dispose(ids);
  });
  const opts = { apiUrl: server.url, apiKey: server.apiKey };
  const poolReady = async () => {
    const health = (await server.api("GET", "/v1/health")).body;
    return (health?.warmPool?.[TEMPLATE]?.ready ?? 0) >= 1;
  };

  // (a) round trips on one sandbox: through Burrow, and directly to the service.
  log("code: runCode round trips");
  await until("the warm pool", poolReady, 180_000);
  const sb = await Sandbox.create({ ...opts, template: TEMPLATE, lifecycle: { standbyAfterMs: 0 } });
  ids.push(sb.sandboxId);
  const ip = (await sb.commands.run("hostname -I")).stdout.trim().split(" ")[0];
  for (let i = 0; i < 5; i++) {
    await sb.runCode("1+1");
    await direct(ip, "1+1");
  }
  const viaBurrow = [];
  const viaDirect = [];
  for (let i = 0; i < N; i++) {
    viaBurrow.push(
      await timeIt(async () => {
        if ((await sb.runCode("1+1")).text !== "2") throw new Error("runCode 1+1 did not give 2");
      }),
    );
    viaDirect.push(
      await timeIt(async () => {
        if ((await direct(ip, "1+1")) !== "2") throw new Error("direct 1+1 did not give 2");
      }),
    );
  }
  const burrowS = summarize(viaBurrow);
  const directS = summarize(viaDirect);

  // (b) create → first result from the warm pool (the pool refills between rounds).
  log("code: warm-pool create → first runCode");
  const warm = [];
  for (let i = 0; i < WARM_N; i++) {
    await until("the warm pool", poolReady, 180_000);
    let created;
    warm.push(
      await timeIt(async () => {
        created = await Sandbox.create({ ...opts, template: TEMPLATE });
        if ((await created.runCode("1+1")).text !== "2") throw new Error("first runCode did not give 2");
      }),
    );
    ids.push(created.sandboxId);
    await created.kill();
  }
  const warmS = summarize(warm);

  // (c) hibernation with a DataFrame loaded, through Burrow.
  log(`code: hibernate with a ${MB} MB DataFrame, wake → first result`);
  const loaded = (await sb.runCode(loadFrame(MB), { timeoutMs: 300_000 })).text;
  const wake = [];
  for (let i = 0; i < WAKE_N; i++) {
    await sb.hibernate();
    wake.push(
      await timeIt(async () => {
        if ((await sb.runCode("len(frame.columns)")).text !== "10") throw new Error("the frame is gone");
      }),
    );
  }
  const wakeS = summarize(wake);
  disposed = true;
  await server.dispose(ids);

  // (c) raw: the same rootfs, service and frame; runsc checkpoint, then restore → first direct result.
  log("code: raw runsc restore of the same service and frame");
  const raw = new RawRunsc(mkdtempSync("/tmp/br-"), rootfs, agentBinary, { networkPrefix: "10.191" });
  cleanups.add(() => raw.cleanupAll());
  const id = rawId();
  await raw.prepare(id, {
    args: [
      "/bin/sh",
      "-c",
      "cd /tmp && MPLBACKEND=module://matplotlib_inline.backend_inline HOME=/root python3 /opt/burrow/code-interpreter/service.py </dev/null >/dev/null 2>&1 & exec /opt/burrow/bin/burrow-agent --port 49983",
    ],
  });
  await raw.start(id);
  await raw.waitAgent(id);
  const rawIp = raw.addr(id).sandboxIp;
  await until("the raw service", async () => (await direct(rawIp, "1+1")) === "2", 180_000);
  const rawLoaded = await direct(rawIp, loadFrame(MB));
  const image = join(raw.dir(id), "image");
  const rawWake = [];
  for (let i = 0; i < WAKE_N; i++) {
    await raw.waitNoConnections(id);
    await raw.checkpoint(id, image);
    await raw.afterCheckpoint(id);
    const t0 = performance.now();
    await raw.restore(id, image);
    // The first connection may meet the restored netstack before it listens again.
    await until("the restored service", async () => (await direct(rawIp, "len(frame.columns)")) === "10", 60_000);
    rawWake.push(performance.now() - t0);
    rmSync(image, { recursive: true, force: true });
  }
  await raw.destroy(id);
  const rawWakeS = summarize(rawWake);

  const addedMs = round(burrowS.p50 - directS.p50, 2);
  return {
    roundTrip: { burrowSdkMs: burrowS, directToServiceMs: directS, addedP50Ms: addedMs },
    warmPoolCreateToFirstResultMs: warmS,
    hibernation: {
      frameMb: { burrow: Number(loaded), raw: Number(rawLoaded) },
      burrowWakeToFirstResultMs: wakeS,
      rawRestoreToFirstResultMs: rawWakeS,
      ratio: ratio(wakeS.p50, rawWakeS.p50),
    },
    goals: {
      runCodeAddedOverDirectP50: goal(15, addedMs, {
        note: "runCode('1+1') via SDK and server minus POST /execute straight to the service (p50s)",
      }),
      warmPoolCreateToFirstResultP50: goal(150, warmS.p50, {
        note: "Sandbox.create from the code-interpreter warm pool, then runCode('1+1')",
      }),
      wakeWithFrameVsRawRestore: goal(1.2, ratio(wakeS.p50, rawWakeS.p50), {
        unit: "×",
        note: `runCode after hibernation with a ${MB} MB DataFrame ÷ raw runsc restore → first direct result`,
      }),
    },
  };
}
