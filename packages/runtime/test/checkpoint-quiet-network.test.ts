import { readdirSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GvisorRuntime } from "../src/gvisor-runtime.js";
import { templateRootfs, testRuntime } from "./gvisor-fixture.js";

// A TCP server that, once its client has closed, takes `delay` s to close its own side.
const closer = (port: number, delay: number) =>
  [
    "import socket, time",
    "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)",
    `s.bind(('0.0.0.0', ${port})); s.listen()`,
    "while True:",
    "    c, _ = s.accept()",
    "    while c.recv(4096): pass",
    `    time.sleep(${delay})`,
    "    c.close()",
  ].join("\n");

// A live checkpoint right after the host closed a connection: the sandbox's side of it closes
// only while the sandbox runs, so the checkpoint must wait for that before it pauses (CI under
// load caught the pause landing first and the checkpoint refusing with a 409).
describe("GvisorRuntime.liveCheckpoint and host connections", () => {
  let dir: string;
  let runtime: GvisorRuntime;
  const id = "sb_quietnetaaaaaaaaaaaa";
  const networkIndex = 1;

  beforeAll(() => {
    ({ dir, runtime } = testRuntime("bquiet-", "10.197"));
  });

  afterAll(async () => {
    await runtime.destroy(id, networkIndex).catch(() => undefined);
    await runtime.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("waits, sandbox running, for a connection the host closed to close on the sandbox's side", async () => {
    await runtime.create({
      id,
      templateLayers: [templateRootfs],
      resources: { vcpus: 1, memoryMb: 512, pids: 256, diskMb: 512 },
      agentToken: "t",
      networkIndex,
    });
    const started = await runtime.exec(id, [
      "sh",
      "-c",
      `setsid python3 -c "${closer(9000, 1.5)}" </dev/null >/dev/null 2>&1 &`,
    ]);
    expect(started.exitCode).toBe(0);
    const host = runtime.agentEndpoint(id, networkIndex).host;
    // Once listening, a first connection shows the server's close comes 1.5 s after the host's.
    let listening = false;
    for (let i = 0; i < 100 && !listening; i++) {
      listening = await new Promise<boolean>((resolve) => {
        const probe = connect(9000, host);
        probe.once("connect", () => {
          probe.end();
          probe.once("close", () => resolve(true));
        });
        probe.once("error", () => resolve(false));
      });
      if (!listening) await new Promise((r) => setTimeout(r, 100));
    }
    expect(listening).toBe(true);
    // Closed by the host here; the sandbox closes its side 1.5 s later, if it is running.
    const client = connect(9000, host);
    await new Promise<void>((resolve, reject) => {
      client.once("connect", resolve);
      client.once("error", reject);
    });
    client.end("bye");
    const imageDir = join(dir, "image");
    await runtime.liveCheckpoint(id, networkIndex, imageDir, async () => undefined);
    expect(readdirSync(imageDir).length).toBeGreaterThan(0);
    expect((await runtime.status(id)).status).toBe("running");
  });

  it("aborts a connection the host closed that the sandbox never closes, and checkpoints", async () => {
    // The same sandbox (still running after the first case's checkpoint): a server that never closes.
    const started = await runtime.exec(id, [
      "sh",
      "-c",
      `setsid python3 -c "${closer(9001, 3600)}" </dev/null >/dev/null 2>&1 &`,
    ]);
    expect(started.exitCode).toBe(0);
    const host = runtime.agentEndpoint(id, networkIndex).host;
    let client: ReturnType<typeof connect> | undefined;
    for (let i = 0; i < 100 && !client; i++) {
      client = await new Promise<ReturnType<typeof connect> | undefined>((resolve) => {
        const socket = connect(9001, host);
        socket.once("connect", () => resolve(socket));
        socket.once("error", () => resolve(undefined));
      });
      if (!client) await new Promise((r) => setTimeout(r, 100));
    }
    if (!client) throw new Error("the server never listened");
    client.on("error", () => undefined); // the abort resets it
    client.end("bye");
    const imageDir = join(dir, "image-2");
    await runtime.liveCheckpoint(id, networkIndex, imageDir, async () => undefined);
    expect(readdirSync(imageDir).length).toBeGreaterThan(0);
    expect((await runtime.status(id)).status).toBe("running");
  });
});
