import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { exportImage, unpackImage } from "@burrow/runtime";
import { afterAll, describe, expect, it } from "vitest";
import { makeOciArchive } from "./oci-image.js";

// Export of layer dirs as an OCI archive (#12 item 8, export half), with the host's umoci and
// skopeo, no network: an image made in the test is unpacked into a lower layer, an upper layer
// adds a file, deletes one (whiteout) and replaces a directory (opaque), and the export must
// show the merged tree and carry the config, both to `skopeo inspect` and to a re-import.
describe("OCI export", () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it("writes layers (with whiteouts) and config as an archive skopeo reads and unpackImage re-imports", async () => {
    const image = makeOciArchive("from-the-image");
    dirs.push(image.dir);
    const work = mkdtempSync("/tmp/bt-oci-export-");
    dirs.push(work);
    const lower = join(work, "lower");
    const first = await unpackImage({ transport: "oci-archive", path: image.archive }, join(work, "w1"), lower);
    expect(first.config.env.FOO).toBe("bar");
    mkdirSync(join(lower, "data/old"), { recursive: true });
    writeFileSync(join(lower, "data/old/kept-below.txt"), "hidden by the opaque dir\n");

    const upper = join(work, "upper");
    mkdirSync(join(upper, "hello"), { recursive: true });
    writeFileSync(join(upper, "hello/added.txt"), "added on top\n");
    execFileSync("mknod", [join(upper, "hello/marker.txt"), "c", "0", "0"]); // whiteout: deleted
    mkdirSync(join(upper, "data/old"), { recursive: true });
    execFileSync("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", join(upper, "data/old")]);
    writeFileSync(join(upper, "data/old/new.txt"), "new\n");

    const archive = join(work, "out.tar");
    const config = {
      env: { FOO: "baz", PATH: "/usr/bin:/bin" },
      user: "user",
      workdir: "/hello",
      command: ["/bin/bash", "-c", "echo hi"],
      exposedPorts: [8080],
      labels: { "org.example.k": "v" },
    };
    await exportImage({ layers: [upper, lower], config, archive, workDir: join(work, "w2"), tag: "v2" });

    const inspected = JSON.parse(execFileSync("skopeo", ["inspect", `oci-archive:${archive}`], { encoding: "utf8" }));
    expect(inspected.Layers).toHaveLength(1);
    expect(inspected.Env).toEqual(["FOO=baz", "PATH=/usr/bin:/bin"]);
    expect(inspected.Labels).toEqual({ "org.example.k": "v" });
    // Nothing is left mounted.
    expect(readFileSync("/proc/self/mounts", "utf8")).not.toContain(join(work, "w2"));

    const again = join(work, "again");
    const second = await unpackImage({ transport: "oci-archive", path: archive }, join(work, "w3"), again);
    expect(second.config).toEqual(config);
    expect(readFileSync(join(again, "hello/added.txt"), "utf8")).toBe("added on top\n");
    expect(existsSync(join(again, "hello/marker.txt"))).toBe(false);
    expect(readFileSync(join(again, "data/old/new.txt"), "utf8")).toBe("new\n");
    expect(existsSync(join(again, "data/old/kept-below.txt"))).toBe(false);
    // The image's own files come through: its shell runs the exported tree.
    expect(existsSync(join(again, "bin/bash"))).toBe(true);
  }, 120_000);

  it("refuses an export without layers and a layer path that would break the mount options", async () => {
    const work = mkdtempSync("/tmp/bt-oci-export-");
    dirs.push(work);
    const config = { env: {}, exposedPorts: [], labels: {} };
    await expect(
      exportImage({ layers: [], config, archive: join(work, "a.tar"), workDir: work }),
    ).rejects.toMatchObject({
      code: "validation_failed",
    });
    await expect(
      exportImage({ layers: [join(work, "a:b")], config, archive: join(work, "a.tar"), workDir: work }),
    ).rejects.toMatchObject({ code: "validation_failed" });
  });
});
