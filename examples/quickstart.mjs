// Quickstart: create a sandbox, run Python in it, write and read a file, delete it.
// Run: BURROW_API_URL=http://127.0.0.1:7070 BURROW_API_KEY=... node examples/quickstart.mjs
// (without the variables the SDK uses http://127.0.0.1:7070 and ~/.burrow/admin-key).
import assert from "node:assert/strict";
import { CommandExitError, Sandbox } from "@burrow/sdk";

const sandbox = await Sandbox.create({ metadata: { example: "quickstart" } });
console.log(`created ${sandbox.sandboxId}`);
try {
  const result = await sandbox.commands.run("python3 -c 'import sys; print(6 * 7, sys.version.split()[0])'");
  const [answer, version] = result.stdout.trim().split(" ");
  assert.equal(answer, "42");
  console.log(`python ${version} says ${answer}`);

  await sandbox.files.write("/home/user/notes/hello.txt", "hello from the host\n");
  const text = await sandbox.files.read("/home/user/notes/hello.txt");
  assert.equal(text, "hello from the host\n");
  console.log(`read back: ${text.trim()}`);

  // The file is a real file in the sandbox: a command sees it too.
  const wc = await sandbox.commands.run("wc -c < /home/user/notes/hello.txt");
  assert.equal(wc.stdout.trim(), "20");
  console.log(`wc -c in the sandbox: ${wc.stdout.trim()}`);

  // A non-zero exit rejects with CommandExitError, which carries the output.
  try {
    await sandbox.commands.run("echo failing >&2; exit 3");
    assert.fail("the command should have failed");
  } catch (err) {
    assert.ok(err instanceof CommandExitError);
    assert.equal(err.exitCode, 3);
    console.log(`failing command: exit code ${err.exitCode}, stderr ${JSON.stringify(err.stderr)}`);
  }
  console.log("quickstart ok");
} finally {
  await sandbox.kill();
  console.log(`deleted ${sandbox.sandboxId}`);
}
