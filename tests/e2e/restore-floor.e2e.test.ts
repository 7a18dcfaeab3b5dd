import { statSync } from "node:fs";
import { join } from "node:path";
import { Sandbox } from "@burrow/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";
import { sh } from "./sandbox-shell.js";

// Restore at the floor, real gVisor: a restore links the files still unchanged since the
// checkpoint from the sandbox's own upper dir and writes only the rest from the blob store; an
// in-place change (even with its mtime put back) is never taken for unchanged.
describe("restore reuses unchanged files", () => {
  let server: TestServer;
  let sandbox: Sandbox;
  const hostFile = (rel: string) => join(server.dataDir, "sandboxes", sandbox.sandboxId, "upper", "home/user", rel);
  const sum = async (rel: string) => (await sh(sandbox, `sha256sum /home/user/${rel}`)).stdout.split(" ")[0];

  beforeAll(async () => {
    server = await startTestServer();
    sandbox = await Sandbox.create({ apiUrl: server.url, apiKey: server.apiKey });
  });

  afterAll(async () => {
    await sandbox?.kill().catch(() => false);
    await server?.dispose();
  });

  it("links unchanged files, rewrites files changed in place, and a reused file changed later comes back on the next restore", async () => {
    await sh(
      sandbox,
      "head -c 3000000 /dev/urandom > /home/user/keep.bin && echo 'original text' > /home/user/edit.txt",
    );
    const keepSum = await sum("keep.bin");
    const ck = await sandbox.checkpoints.create({ mode: "fs", wait: true });
    const keepIno = statSync(hostFile("keep.bin")).ino;

    // In place (same inode, same size), its mtime put back afterwards.
    const edit = await sh(
      sandbox,
      'cd /home/user && m=$(stat -c %y edit.txt) && printf CHANGED | dd of=edit.txt conv=notrunc status=none && touch -d "$m" edit.txt && cat edit.txt',
    );
    expect(edit.stdout).toBe("CHANGEDl text\n");
    await sandbox.checkpoints.restore(ck.id);
    expect((await sandbox.files.read("/home/user/edit.txt")).toString()).toBe("original text\n");
    expect(await sum("keep.bin")).toBe(keepSum);
    // keep.bin is the very inode it was, and only this upper dir links it.
    expect(statSync(hostFile("keep.bin")).ino).toBe(keepIno);
    expect(statSync(hostFile("keep.bin")).nlink).toBe(1);
    const events = await sandbox.events();
    expect(events.find((e) => e.type === "restored")?.reason).toMatch(/unchanged files reused/);

    // The reused file changed in place now: the checkpoint still has the original.
    await sh(sandbox, "printf XXXX | dd of=/home/user/keep.bin conv=notrunc status=none");
    expect(await sum("keep.bin")).not.toBe(keepSum);
    await sandbox.checkpoints.restore(ck.id);
    expect(await sum("keep.bin")).toBe(keepSum);
    expect((await sandbox.files.read("/home/user/edit.txt")).toString()).toBe("original text\n");
  });
});
