import { execFile, spawn } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { buildOciSpec } from "@burrow/runtime";

const run = promisify(execFile);
const FLAGS = ["--platform=systrap", "--network=none", "--overlay2=none", "--host-uds=create"];

/**
 * Raw runsc, driven directly with the same flags, template and OCI spec shape Burrow uses, but
 * with `sleep infinity` as PID 1 and `runsc exec` for commands: the floor Burrow is measured against.
 */
export class RawRunsc {
  constructor(baseDir, templateRootfs, agentBinaryPath) {
    this.baseDir = baseDir;
    this.templateRootfs = templateRootfs;
    this.agentBinaryPath = agentBinaryPath;
    this.stateDir = join(baseDir, "runsc");
    mkdirSync(this.stateDir, { recursive: true });
  }

  runsc(args) {
    return run("timeout", ["30", "runsc", `--root=${this.stateDir}`, ...FLAGS, ...args], { maxBuffer: 1 << 26 });
  }

  async create(id) {
    const dir = join(this.baseDir, id);
    for (const d of ["upper", "work", "rootfs", "bundle", "run"]) mkdirSync(join(dir, d), { recursive: true });
    await run("mount", [
      "-t",
      "overlay",
      "overlay",
      "-o",
      `lowerdir=${this.templateRootfs},upperdir=${dir}/upper,workdir=${dir}/work`,
      `${dir}/rootfs`,
    ]);
    const spec = buildOciSpec({
      id,
      rootfsPath: `${dir}/rootfs`,
      runDirPath: `${dir}/run`,
      agentBinaryPath: this.agentBinaryPath,
      agentToken: "x",
      resources: { vcpus: 2, memoryMb: 2048, pids: 4096 },
      agentPort: 49983,
    });
    spec.process.args = ["sleep", "infinity"];
    writeFileSync(join(dir, "bundle", "config.json"), JSON.stringify(spec));
    await new Promise((resolve, reject) => {
      const child = spawn(
        "timeout",
        ["30", "runsc", `--root=${this.stateDir}`, ...FLAGS, "run", "--detach", `--bundle=${dir}/bundle`, id],
        { stdio: "ignore" },
      );
      child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`runsc run exited ${code}`))));
    });
  }

  async exec(id, argv) {
    const { stdout } = await this.runsc(["exec", id, ...argv]);
    return stdout;
  }

  /** Plain `runsc kill` + `runsc delete`, as a user would do by hand. */
  async destroy(id) {
    await this.runsc(["kill", id, "KILL"]).catch(() => {});
    for (let i = 0; i < 100; i++) {
      try {
        await this.runsc(["delete", id]);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    await run("umount", [join(this.baseDir, id, "rootfs")]).catch(() => {});
    rmSync(join(this.baseDir, id), { recursive: true, force: true });
  }
}
