import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Sandbox, Volume, VolumeError, VolumeFileType, VolumePathNotFoundError } from "e2b";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";

// The official `e2b` SDK's Volume class and `Sandbox.create({ volumeMounts })`, unchanged, against
// a real Burrow server with real runsc sandboxes.
describe("e2b SDK volumes against Burrow", () => {
  let server: TestServer;
  let key: string;
  const opts = () => ({ apiKey: key, apiUrl: server.url, sandboxUrl: server.url });
  // The content API's base URL (what E2B_VOLUME_API_URL sets); the volume's own token is sent.
  const content = () => ({ apiUrl: server.url });

  beforeAll(async () => {
    server = await startTestServer();
    key = readFileSync(join(server.dataDir, "e2b-api-key"), "utf8").trim();
  });

  afterAll(async () => {
    await server?.dispose();
  });

  it("create, connect, list, getInfo, file methods, volumeMounts and destroy", async () => {
    const volume = await Volume.create("e2b-data", opts());
    expect(volume.volumeId).toMatch(/^vol_/);
    expect(volume.name).toBe("e2b-data");
    expect((await Volume.list(opts())).map((v) => v.name)).toContain("e2b-data");
    const info = await Volume.getInfo(volume.volumeId, opts());
    expect(info).toMatchObject({ volumeId: volume.volumeId, name: "e2b-data", token: volume.token });
    const connected = await Volume.connect(volume.volumeId, opts());
    expect(connected.token).toBe(volume.token);

    // Files with no sandbox running.
    const written = await volume.writeFile("/seed/input.txt", "seeded", content());
    expect(written).toMatchObject({ name: "input.txt", path: "/seed/input.txt", type: VolumeFileType.FILE, size: 6 });
    expect(await volume.readFile("/seed/input.txt", content())).toBe("seeded");
    const dir = await volume.makeDir("/out", { ...content(), mode: 0o777 });
    expect(dir.type).toBe(VolumeFileType.DIRECTORY);
    expect(await volume.exists("/seed/input.txt", content())).toBe(true);
    expect(await volume.exists("/nope", content())).toBe(false);
    await expect(volume.readFile("/nope", content())).rejects.toThrow(VolumePathNotFoundError);

    const sandbox = await Sandbox.create({ ...opts(), volumeMounts: { "/mnt/data": volume } });
    try {
      expect((await sandbox.commands.run("cat /mnt/data/seed/input.txt")).stdout).toBe("seeded");
      expect((await sandbox.getInfo()).volumeMounts).toEqual([{ name: "e2b-data", path: "/mnt/data" }]);
      await sandbox.files.write("/mnt/data/out/result.txt", "from the sandbox");
      expect(await volume.readFile("/out/result.txt", content())).toBe("from the sandbox");
      // Deleting a mounted volume is refused.
      await expect(Volume.destroy(volume.volumeId, opts())).rejects.toThrow(VolumeError);
    } finally {
      await sandbox.kill();
    }
    const listed = await volume.list("/", { ...content(), depth: 2 });
    expect(listed.map((e) => e.path).sort()).toEqual(["/out", "/out/result.txt", "/seed", "/seed/input.txt"]);
    expect(listed.find((e) => e.path === "/out")?.mtime).toBeInstanceOf(Date);
    const meta = await volume.updateMetadata("/out/result.txt", { mode: 0o600 }, content());
    expect(meta.mode).toBe(0o600);
    await volume.remove("/seed", content());
    expect(await volume.exists("/seed", content())).toBe(false);

    // By name too, as E2B's volumeMounts allows.
    const again = await Sandbox.create({ ...opts(), volumeMounts: { "/work": "e2b-data" } });
    try {
      expect((await again.commands.run("cat /work/out/result.txt")).stdout).toBe("from the sandbox");
    } finally {
      await again.kill();
    }
    expect(await Volume.destroy(volume.volumeId, opts())).toBe(true);
    expect(await Volume.destroy(volume.volumeId, opts())).toBe(false);
  });
});
