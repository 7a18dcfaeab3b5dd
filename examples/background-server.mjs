// A background process: start `python3 -m http.server` in a sandbox, request a page from it
// with curl inside the same sandbox, then kill the server.
// Run: BURROW_API_URL=http://127.0.0.1:7070 BURROW_API_KEY=... node examples/background-server.mjs
import assert from "node:assert/strict";
import { CommandExitError, Sandbox } from "@burrow/sdk";

const PORT = 8000;

const sandbox = await Sandbox.create({ metadata: { example: "background-server" } });
console.log(`created ${sandbox.sandboxId}`);
try {
  await sandbox.files.write("/home/user/site/index.html", "<h1>hello from a sandbox</h1>\n");

  // background: true returns a CommandHandle as soon as the process has started.
  // timeoutMs: 0 lifts the default 60 s limit, so the server runs until it is killed.
  const server = await sandbox.commands.run(`python3 -m http.server ${PORT}`, {
    background: true,
    cwd: "/home/user/site",
    timeoutMs: 0,
    onStderr: (data) => process.stdout.write(`[http.server] ${data}`),
  });
  console.log(`http.server started, pid ${server.pid}`);

  // Poll until it accepts connections (http.server looks up its host name as it starts),
  // then fetch the page from inside the sandbox.
  const page = await sandbox.commands.run(
    `for i in $(seq 300); do curl -sf http://127.0.0.1:${PORT}/ && exit 0; sleep 0.1; done; exit 1`,
  );
  assert.match(page.stdout, /hello from a sandbox/);
  console.log(`curl inside the sandbox got: ${page.stdout.trim()}`);

  const listed = await sandbox.commands.list();
  assert.ok(listed.some((p) => p.pid === server.pid));

  assert.equal(await server.kill(), true);
  try {
    await server.wait();
    assert.fail("a killed process should not exit with 0");
  } catch (err) {
    assert.ok(err instanceof CommandExitError);
    console.log(`server killed (${err.error ?? `exit code ${err.exitCode}`})`);
  }
  assert.match(server.stderr, /"GET \/ HTTP\/1.1" 200/);
  console.log("background-server ok");
} finally {
  await sandbox.kill();
  console.log(`deleted ${sandbox.sandboxId}`);
}
