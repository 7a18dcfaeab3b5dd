import { describe, expect, it } from "vitest";
import type { CommandResult, CommandRunner, RunCommandOptions } from "../src/command-runner.js";
import { MAX_LOWERDIR_CHARS, mountOverlay, recordLayers } from "../src/sandbox-rootfs.js";
import { tempDirsPerTest } from "./temp-dirs.js";

const tempDir = tempDirsPerTest("burrow-rootfs-");

/** Records the mount commands instead of running them. */
class RecordingRunner implements CommandRunner {
  readonly calls: string[][] = [];
  async run(argv: string[], _options: RunCommandOptions): Promise<CommandResult> {
    this.calls.push(argv);
    return { exitCode: 0, stdout: "", stderr: "", timedOut: false };
  }
  async close(): Promise<void> {}
}

const lowerdirOf = (argv: string[] | undefined) => /lowerdir=([^,]*)/.exec(argv?.[5] ?? "")?.[1];
const paths = (dir: string) => ({ upper: `${dir}/upper`, work: `${dir}/work`, rootfs: `${dir}/rootfs` });

describe("sandbox overlay layers", () => {
  it("mounts the layer list recorded at create on every later mount, whatever the caller passes", async () => {
    const dir = tempDir();
    await recordLayers(dir, ["/layers/top", "/layers/base"], { extraLower: "/snap", caLayersDir: tempDir() });
    const runner = new RecordingRunner();
    await mountOverlay(runner, dir, ["/somewhere/else"], paths(dir));
    expect(lowerdirOf(runner.calls[0])).toBe("/snap:/layers/top:/layers/base");
  });

  it("mounts the caller's layers for a sandbox without a recorded list (made by an older release)", async () => {
    const dir = tempDir();
    const runner = new RecordingRunner();
    await mountOverlay(runner, dir, ["/templates/base/rootfs"], paths(dir));
    expect(lowerdirOf(runner.calls[0])).toBe("/templates/base/rootfs");
  });

  it("refuses a stack whose lowerdir option would not fit in a mount's page", async () => {
    const dir = tempDir();
    const deep = Array.from({ length: 80 }, (_, i) => `/var/lib/burrow/layers/${"x".repeat(40)}${i}`);
    expect(deep.join(":").length).toBeGreaterThan(MAX_LOWERDIR_CHARS);
    await recordLayers(dir, deep, { caLayersDir: tempDir() });
    const runner = new RecordingRunner();
    await expect(mountOverlay(runner, dir, [], paths(dir))).rejects.toThrow(/too deep/);
    expect(runner.calls).toEqual([]);
  });
});
