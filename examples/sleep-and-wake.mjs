// Sleep and wake: a counting process keeps its PID and its count across hibernation.
// Hibernation writes the sandbox's memory and processes to disk; the next call restores them.
// Run: BURROW_API_URL=http://127.0.0.1:7070 BURROW_API_KEY=... node examples/sleep-and-wake.mjs
import assert from "node:assert/strict";
import { Sandbox } from "@burrow/sdk";

const COUNTER = 'i=0; while true; do i=$((i+1)); echo "pid $$ count $i"; sleep 0.2; done';
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Parses "pid P count N" lines. */
function counts(text) {
  return [...text.matchAll(/^pid (\d+) count (\d+)$/gm)].map((m) => ({ pid: Number(m[1]), n: Number(m[2]) }));
}

// standbyAfterMs: 0 keeps the server's idle policy out of the way; this example sleeps it by hand.
const sandbox = await Sandbox.create({ metadata: { example: "sleep-and-wake" }, lifecycle: { standbyAfterMs: 0 } });
console.log(`created ${sandbox.sandboxId}`);
try {
  const counter = await sandbox.commands.run(COUNTER, { background: true, timeoutMs: 0 });
  await sleep(1_000);
  const before = counts(counter.stdout);
  assert.ok(before.length > 0, "the counter printed nothing");
  const last = before.at(-1);
  assert.equal(last.pid, counter.pid);
  console.log(`counter running: pid ${counter.pid}, count ${last.n}`);
  // Stop following the process (it keeps running); open streams do not survive hibernation.
  await counter.disconnect();

  const hibernated = await sandbox.hibernate();
  assert.equal(hibernated.state, "hibernated");
  console.log(`state: ${hibernated.state} (memory and processes on disk)`);
  await sleep(1_000);

  // Any call wakes the sandbox. Reconnecting replays the output the agent kept (up to 1 MiB
  // per process), then follows new output.
  const again = await sandbox.commands.connect(counter.pid);
  const woken = await sandbox.getInfo();
  assert.equal(woken.state, "running");
  console.log(`state: ${woken.state}`);
  await sleep(1_000);
  await again.disconnect();

  const after = counts(again.stdout);
  assert.ok(
    after.every((c) => c.pid === counter.pid),
    "another process printed",
  );
  after.forEach((c, i) => {
    assert.equal(c.n, i + 1, "the count has a gap or restarted");
  });
  const end = after.at(-1);
  assert.ok(end.n > last.n, "the counter did not continue after waking");
  console.log(`after waking: pid ${end.pid}, count ${end.n} (continued from ${last.n}, no gaps)`);

  const types = (await sandbox.events()).map((e) => e.type);
  console.log(`events: ${types.join(", ")}`);
  assert.ok(types.includes("hibernated") && types.includes("woken"));
  console.log("sleep-and-wake ok");
} finally {
  await sandbox.kill();
  console.log(`deleted ${sandbox.sandboxId}`);
}
