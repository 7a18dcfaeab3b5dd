// The official `e2b` SDK, unchanged, against a Burrow server. Point it at Burrow with:
//   E2B_API_URL=http://127.0.0.1:7070 E2B_SANDBOX_URL=http://127.0.0.1:7070 \
//   E2B_API_KEY=$(cat ~/.burrow/e2b-api-key) node examples/e2b-quickstart.mjs
import assert from "node:assert/strict";
import { Sandbox } from "e2b";

// autoPause: when the timeout passes with nothing using it, the sandbox is paused, not killed.
const sandbox = await Sandbox.create({ timeoutMs: 60_000, lifecycle: { onTimeout: "pause" } });
console.log(`created ${sandbox.sandboxId}`);
try {
  const result = await sandbox.commands.run("python3 -c 'print(6 * 7)'");
  assert.equal(result.stdout.trim(), "42");
  console.log(`python says ${result.stdout.trim()}`);

  await sandbox.files.write("/home/user/hello.txt", "hello from e2b\n");
  assert.equal(await sandbox.files.read("/home/user/hello.txt"), "hello from e2b\n");

  // A background process survives a pause: memory and processes go to disk and come back.
  const counter = await sandbox.commands.run(
    "i=0; while true; do i=$((i+1)); echo $i > /tmp/n.new; mv /tmp/n.new /tmp/n; sleep 0.1; done",
    { background: true },
  );
  // Pause only once the counter has written its first value.
  await sandbox.commands.run("while [ ! -s /tmp/n ]; do sleep 0.05; done", { timeoutMs: 10_000 });
  await sandbox.pause();
  console.log(`paused: ${(await sandbox.getInfo()).state}`);
  const resumed = await Sandbox.connect(sandbox.sandboxId);
  const running = await resumed.commands.list();
  assert.ok(running.some((p) => p.pid === counter.pid));
  console.log(`after connect pid ${counter.pid} still runs, counter at ${(await resumed.files.read("/tmp/n")).trim()}`);
  console.log("e2b quickstart ok");
} finally {
  await sandbox.kill();
  console.log(`killed ${sandbox.sandboxId}`);
}
