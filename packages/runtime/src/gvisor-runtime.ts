import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { BurrowError, DEFAULT_RESOURCES, ErrorCode, type Logger, type SandboxResources } from "@burrow/core";
import { BlankDiskPool } from "./blank-disks.js";
import type { CommandResult, CommandRunner } from "./command-runner.js";
import { Freezer } from "./freezer.js";
import {
  applyEgressRules,
  type EgressProxyPorts,
  type EgressRules,
  ensureHostFirewall,
  removeEgressRules,
} from "./host-firewall.js";
import { removeTree } from "./layers/safe-fs.js";
import { reapLeftovers } from "./leftovers.js";
import { applyHostMemoryHeadroom } from "./memory-headroom.js";
import {
  DEFAULT_NETWORK_PREFIX,
  HOST_CLOSED_STATES,
  type SandboxAddresses,
  SandboxNetwork,
  sandboxAddresses,
} from "./network.js";
import { buildOciSpec } from "./oci-spec.js";
import { readAgentLog, upgradeBundle, writeAgentToken } from "./run-dir.js";
import { readableLog, readTail, toStatus } from "./runsc-log.js";
import type {
  AgentEndpoint,
  ExecOptions,
  ExecResult,
  RestartSpec,
  RestoreSpec,
  Runtime,
  RuntimeSandbox,
  SandboxSpec,
  SandboxUsage,
  SnapshotRestoreSpec,
} from "./runtime.js";
import { CPU_PERIOD_US, readCgroupUsage, writeCpuQuota } from "./sandbox-cgroups.js";
import {
  clearDiskUpper,
  createSandboxDisk,
  diskStagingDir,
  fillDiskUpper,
  growSandboxDisk,
  hasDisk,
  mountSandboxDisk,
  overlayDirs,
  sandboxDiskSizeMb,
  sandboxDiskUsage,
  swapDiskUpper,
  unmountSandboxDisk,
} from "./sandbox-disk.js";
import { ensureTmpDir, MOUNT_TIMEOUT_MS, mountOverlay, recordLayers } from "./sandbox-rootfs.js";
import { tailLines } from "./text.js";

export interface GvisorRuntimeOptions {
  /** Directory holding one subdirectory per sandbox (upper, work, rootfs, bundle, run). */
  sandboxesDir: string;
  /** runsc --root: where runsc keeps its container state. */
  runscStateDir: string;
  agentBinaryPath: string;
  runner: CommandRunner;
  logger: Logger;
  runscPath?: string;
  /** Timeout of each runsc call. */
  runscTimeoutMs?: number;
  agentPort?: number;
  /** First two octets of the /16 sandbox networks come from (default "10.200"). */
  networkPrefix?: string;
  /** How runsc compresses memory images (checkpoints, hibernation); default "flate-best-speed". */
  checkpointCompression?: "none" | "flate-best-speed";
}

const DEFAULT_RUNSC_TIMEOUT_MS = 30_000;
const QUIET_NETWORK_TIMEOUT_MS = 5_000;

/** An `ss -Htn` line as "STATE to sandbox port N" (host addresses stay out of API answers). */
function describeConnection(line: string): string {
  const [state, , , , peer] = line.trim().split(/\s+/);
  return `${state ?? "?"} to sandbox port ${peer?.split(":").pop() ?? "?"}`;
}

/**
 * Runs sandboxes with gVisor: an overlay rootfs (template lower + per-sandbox upper on the host
 * disk), `--overlay2=none` so writes land as real files in the upper dir, systrap platform, and
 * gVisor's own netstack on a per-sandbox network namespace, where the agent listens on TCP.
 */
export class GvisorRuntime implements Runtime {
  private readonly runsc: string;
  private readonly timeoutMs: number;
  private readonly network: SandboxNetwork;
  private readonly agentPort: number;
  private readonly blankDisks: BlankDiskPool;
  private readonly freezer = new Freezer();

  constructor(private readonly options: GvisorRuntimeOptions) {
    this.runsc = options.runscPath ?? "runsc";
    this.timeoutMs = options.runscTimeoutMs ?? DEFAULT_RUNSC_TIMEOUT_MS;
    this.network = new SandboxNetwork(options.runner);
    this.agentPort = options.agentPort ?? 49983;
    this.blankDisks = new BlankDiskPool(
      options.runner,
      join(dirname(options.sandboxesDir), "blank-disks"),
      options.logger,
      [DEFAULT_RESOURCES.diskMb],
    );
  }

  async prepareHost(egressPorts?: EgressProxyPorts): Promise<void> {
    await mkdir(this.options.sandboxesDir, { recursive: true });
    // Disk images for the next creates are made in the background from now on.
    await this.blankDisks.init();
    await ensureHostFirewall(
      this.options.runner,
      this.options.networkPrefix ?? DEFAULT_NETWORK_PREFIX,
      egressPorts,
      this.options.sandboxesDir,
    );
  }

  async reapLeftovers(live: ReadonlySet<string>): Promise<string[]> {
    return reapLeftovers(
      {
        sandboxesDir: this.options.sandboxesDir,
        runscStateDir: this.options.runscStateDir,
        networkPrefix: this.options.networkPrefix ?? DEFAULT_NETWORK_PREFIX,
        runscPath: this.runsc,
        runner: this.options.runner,
      },
      live,
    );
  }

  async setEgress(id: string, networkIndex: number, rules: EgressRules): Promise<void> {
    const addr = sandboxAddresses(id, networkIndex, this.options.networkPrefix);
    await applyEgressRules(
      this.options.runner,
      addr.hostInterface,
      this.options.networkPrefix ?? DEFAULT_NETWORK_PREFIX,
      rules,
      this.options.sandboxesDir,
    );
  }

  private dir(id: string): string {
    return join(this.options.sandboxesDir, id);
  }

  /**
   * runsc state lives in one root per sandbox: runsc commands look at every container under
   * their root, and a container whose sandbox is frozen (standby) makes them hang, so a shared
   * root would let one sleeping sandbox block operations on all others.
   */
  private get compressionFlag(): string {
    return `--compression=${this.options.checkpointCompression ?? "flate-best-speed"}`;
  }

  private stateRoot(id: string): string {
    return join(this.options.runscStateDir, id);
  }

  private runscArgv(id: string, args: string[]): string[] {
    return [
      this.runsc,
      `--root=${this.stateRoot(id)}`,
      "--platform=systrap",
      "--network=sandbox",
      // Lets checkpoints proceed while TCP connections exist; those connections are dropped.
      "--net-disconnect-ok",
      "--overlay2=none",
      ...args,
    ];
  }

  private async runRunsc(
    id: string,
    args: string[],
    what: string,
    stdio: "pipe" | "null" = "pipe",
  ): Promise<CommandResult> {
    const result = await this.options.runner.run(this.runscArgv(id, args), { timeoutMs: this.timeoutMs, stdio });
    if (result.timedOut) {
      throw new BurrowError(ErrorCode.RuntimeFailed, `runsc ${what} timed out after ${this.timeoutMs} ms`, {
        details: { stderrTail: tailLines(result.stderr, 10) },
      });
    }
    return result;
  }

  private failure(what: string, result: CommandResult, logTail: string): BurrowError {
    const tail = tailLines(logTail || result.stderr, 10);
    return new BurrowError(ErrorCode.RuntimeFailed, `runsc ${what} failed (exit ${result.exitCode}): ${tail}`, {
      details: { exitCode: result.exitCode, stderrTail: tail },
      cause: new Error(result.stderr),
    });
  }

  async create(spec: SandboxSpec): Promise<void> {
    await this.startNew(spec, ["run", "--detach"], "run");
  }

  /**
   * Starts a new sandbox from another sandbox's memory image (`imageDir`) and files (`upperSnapshot`,
   * copied into the new upper dir, or `extraLower` mounted read-only below an empty one): the processes keep running with their memory, under the new
   * id, network namespace and /30 address (runsc restore takes eth0's address from the namespace
   * it restores into), and the agent switches to `spec.agentToken` on the first request that
   * carries it, refusing the image's token from then on.
   */
  async restoreAsNew(spec: SnapshotRestoreSpec): Promise<void> {
    const from = spec.upperSnapshot;
    await this.startNew(spec, ["restore", "--detach", `--image-path=${spec.imageDir}`], "restore", async (upper) => {
      if (from !== undefined) {
        const copy = await this.options.runner.run(["cp", "-a", "--reflink=auto", `${from}/.`, upper], {
          timeoutMs: this.timeoutMs,
        });
        if (copy.exitCode !== 0) {
          throw new BurrowError(ErrorCode.RuntimeFailed, `copying the snapshot's files failed: ${copy.stderr.trim()}`);
        }
      }
      // The restored agent reopens its log by path; runsc restore fails while it is missing.
      await writeFile(join(this.dir(spec.id), "run", "agent.log"), "", { flag: "wx" });
    });
  }

  private async startNew(
    spec: SandboxSpec,
    startArgs: string[],
    what: string,
    fillUpper?: (upper: string) => Promise<void>,
  ): Promise<void> {
    const dir = this.dir(spec.id);
    const addr = sandboxAddresses(spec.id, spec.networkIndex, this.options.networkPrefix);
    const paths = { rootfs: join(dir, "rootfs"), bundle: join(dir, "bundle"), run: join(dir, "run") };
    await Promise.all(Object.values(paths).map((p) => mkdir(p, { recursive: true })));
    try {
      // The files (the sandbox's disk, upper dir, layers, overlay mount), the network and the
      // bundle do not depend on each other: they are made at the same time, and runsc starts once
      // all are there. The sandbox's own files go on a disk of its size (ENOSPC past it), or, with
      // diskMb 0, on the host.
      const files = async () => {
        if (spec.resources.diskMb > 0) {
          await createSandboxDisk(this.options.runner, dir, spec.resources.diskMb, this.blankDisks);
        }
        const { upper, work } = overlayDirs(dir);
        await Promise.all([upper, work].map((p) => mkdir(p, { recursive: true })));
        if (fillUpper) await fillUpper(upper);
        await recordLayers(dir, spec.templateLayers, {
          extraLower: spec.extraLower,
          trustedCaPem: spec.trustedCaPem,
          caLayersDir: this.caLayersDir,
        });
        await mountOverlay(this.options.runner, dir, spec.templateLayers, { upper, work, rootfs: paths.rootfs });
        await ensureTmpDir(paths.rootfs);
      };
      // DNS goes to the host end of the veth, where the server's DNS proxy applies the egress policy.
      // single-request: glibc sends A and AAAA in parallel from one socket, and conntrack's known
      // race between two new packets of one flow at a NAT redirect can drop one (a 2 s stall).
      const resolvConf = join(dir, "resolv.conf");
      const ociSpec = buildOciSpec({
        id: spec.id,
        rootfsPath: paths.rootfs,
        runDirPath: paths.run,
        resolvConfPath: resolvConf,
        agentBinaryPath: this.options.agentBinaryPath,
        resources: spec.resources,
        agentPort: this.agentPort,
        netns: addr.netns,
        ...(spec.binds === undefined ? {} : { binds: spec.binds }),
      });
      const settled = await Promise.allSettled([
        files(),
        this.network.setup(addr, dir),
        writeFile(resolvConf, `nameserver ${addr.hostIp}\noptions timeout:2 attempts:2 single-request\n`),
        writeFile(join(paths.bundle, "config.json"), JSON.stringify(ociSpec), { mode: 0o600 }),
        writeAgentToken(paths.run, spec.agentToken),
      ]);
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed) throw failed.reason;
      await this.startInNamespace(spec.id, addr, [...startArgs, `--bundle=${paths.bundle}`, spec.id], what);
    } catch (err) {
      await this.destroy(spec.id, spec.networkIndex).catch((e: unknown) =>
        this.options.logger.warn({ sandboxId: spec.id, err: String(e) }, "cleanup after failed create"),
      );
      throw err;
    }
  }

  /** Runs a runsc command that starts a sandbox (run, restore) inside its network namespace. */
  private async startInNamespace(id: string, addr: SandboxAddresses, args: string[], what: string): Promise<void> {
    const logPath = join(this.dir(id), "runsc.log");
    await writeFile(logPath, "");
    const argv = SandboxNetwork.inNamespace(addr, this.runscArgv(id, [`--log=${logPath}`, ...args]));
    const result = await this.options.runner.run(argv, { timeoutMs: this.timeoutMs, stdio: "null" });
    if (result.timedOut) {
      throw new BurrowError(ErrorCode.RuntimeFailed, `runsc ${what} timed out after ${this.timeoutMs} ms`);
    }
    if (result.exitCode !== 0) throw this.failure(what, result, await readTail(logPath));
    await applyHostMemoryHeadroom(id, join(this.dir(id), "bundle"));
  }

  /** Where trust-store layers are kept: beside the sandboxes' dirs. */
  private get caLayersDir(): string {
    return join(dirname(this.options.sandboxesDir), "ca-layers");
  }

  async destroy(id: string, networkIndex: number): Promise<void> {
    const dir = this.dir(id);
    // A frozen sandbox cannot be killed cleanly; thaw it first.
    if ((await this.freezer.state(id)) === "FROZEN") await this.freezer.thaw(id).catch(() => undefined);
    const del = await this.runRunsc(id, ["delete", "--force", id], "delete");
    if (del.exitCode !== 0 && !/not exist|not found|cannot load container/i.test(del.stderr)) {
      throw this.failure("delete", del, "");
    }
    const rootfs = join(dir, "rootfs");
    const umount = await this.options.runner.run(["umount", rootfs], { timeoutMs: MOUNT_TIMEOUT_MS });
    if (umount.exitCode !== 0 && !/not mounted|no mount point|No such file/i.test(umount.stderr)) {
      // A busy mount is detached lazily so the directory can still be removed.
      await this.options.runner.run(["umount", "-l", rootfs], { timeoutMs: MOUNT_TIMEOUT_MS });
    }
    await unmountSandboxDisk(this.options.runner, dir);
    const addr = sandboxAddresses(id, networkIndex, this.options.networkPrefix);
    await removeEgressRules(this.options.runner, addr.hostInterface);
    await this.network.teardown(addr);
    // GNU rm: any depth (a sandbox can make a directory thousands of levels deep) and any modes.
    await removeTree(dir);
    await rm(this.stateRoot(id), { recursive: true, force: true });
  }

  /**
   * Reads the sandbox's state from its cgroup (the sandbox, gofer and stub processes live in
   * `freezer/burrow/<id>`), not from runsc: `runsc state` hangs on a frozen sandbox.
   */
  async status(id: string): Promise<RuntimeSandbox> {
    const procs = await this.freezer.processes(id);
    if (procs !== null && procs.length > 0) {
      const frozen = (await this.freezer.state(id)) === "FROZEN";
      return { id, status: frozen ? "paused" : "running", pid: procs[0] as number };
    }
    if (procs === null && !existsSync(this.stateRoot(id))) return { id, status: "absent" };
    if (procs === null) {
      // No cgroup (runsc without cgroups, or not started yet): ask runsc, which is safe here.
      const result = await this.runRunsc(id, ["state", id], "state");
      if (result.exitCode !== 0) return { id, status: "absent" };
      const state = JSON.parse(result.stdout) as { status?: string; pid?: number };
      return { id, status: toStatus(state.status), ...(state.pid ? { pid: state.pid } : {}) };
    }
    return { id, status: "stopped" };
  }

  async pause(id: string): Promise<void> {
    if (await this.freezer.available(id)) return this.freezer.freeze(id);
    const result = await this.runRunsc(id, ["pause", id], "pause");
    if (result.exitCode !== 0) throw this.failure("pause", result, "");
  }

  async resume(id: string): Promise<void> {
    if (await this.freezer.available(id)) {
      await this.freezer.thaw(id);
      return;
    }
    const result = await this.runRunsc(id, ["resume", id], "resume");
    if (result.exitCode !== 0) throw this.failure("resume", result, "");
  }

  /**
   * Saves memory and processes to `imageDir` and stops the sandbox, keeping its files, overlay
   * mount and network so it can be restored. runsc's container record is removed so the same id
   * can be restored.
   */
  async checkpoint(id: string, networkIndex: number, imageDir: string): Promise<void> {
    if ((await this.freezer.state(id)) !== "THAWED") await this.freezer.thaw(id).catch(() => undefined);
    await this.requireQuietNetwork(id, networkIndex);
    await mkdir(imageDir, { recursive: true });
    const result = await this.runRunsc(
      id,
      ["checkpoint", this.compressionFlag, `--image-path=${imageDir}`, id],
      "checkpoint",
    );
    if (result.exitCode !== 0) throw this.failure("checkpoint", result, "");
    await this.waitStopped(id);
    const del = await this.runRunsc(id, ["delete", "--force", id], "delete");
    if (del.exitCode !== 0) throw this.failure("delete after checkpoint", del, "");
  }

  async liveCheckpoint(
    id: string,
    networkIndex: number,
    imageDir: string,
    whilePaused: () => Promise<void>,
  ): Promise<void> {
    if ((await this.freezer.state(id)) !== "THAWED") await this.freezer.thaw(id);
    await mkdir(imageDir, { recursive: true });
    // Connections the host just closed need the sandbox's side to close too, which a paused
    // sandbox cannot do: wait for that while it runs. Then runsc pause stops the sandbox's tasks
    // inside gVisor (runsc can still talk to it, unlike a cgroup freeze); the checkpoint pauses
    // again on top and leaves it paused when done. The host-connection check runs again
    // meanwhile, for a connection the sandbox opened in between.
    await this.requireQuietNetwork(id, networkIndex);
    const [paused, quiet] = await Promise.allSettled([
      this.runRunsc(id, ["pause", id], "pause"),
      this.requireQuietNetwork(id, networkIndex),
    ]);
    if (paused.status === "rejected" || paused.value.exitCode !== 0 || quiet.status === "rejected") {
      if (paused.status === "fulfilled" && paused.value.exitCode === 0)
        await this.runRunsc(id, ["resume", id], "resume");
      if (quiet.status === "rejected") throw quiet.reason;
      if (paused.status === "rejected") throw paused.reason;
      throw this.failure("pause", paused.value, "");
    }
    const [saved, during] = await Promise.allSettled([
      this.runRunsc(
        id,
        ["checkpoint", "--leave-running", this.compressionFlag, `--image-path=${imageDir}`, id],
        "checkpoint",
      ),
      whilePaused(),
    ]);
    const resumed = await this.runRunsc(id, ["resume", id], "resume");
    if (saved.status === "rejected") throw saved.reason;
    if (saved.value.exitCode !== 0) throw this.failure("checkpoint", saved.value, "");
    if (during.status === "rejected") throw during.reason;
    if (resumed.exitCode !== 0) throw this.failure("resume after checkpoint", resumed, "");
  }

  async unpauseInterrupted(id: string): Promise<void> {
    if ((await this.freezer.state(id)) === "FROZEN") await this.freezer.thaw(id);
    const state = await this.runRunsc(id, ["state", id], "state");
    if (state.exitCode === 0 && /"status":\s*"paused"/.test(state.stdout)) {
      const resumed = await this.runRunsc(id, ["resume", id], "resume");
      if (resumed.exitCode !== 0) throw this.failure("resume", resumed, "");
    }
  }

  private async requireQuietNetwork(id: string, networkIndex: number): Promise<void> {
    const addr = sandboxAddresses(id, networkIndex, this.options.networkPrefix);
    let open = await this.network.waitConnectionsClosed(addr, QUIET_NETWORK_TIMEOUT_MS);
    // Connections the host closed whose sandbox side has not followed in all that time are
    // aborted (a reset to the sandbox), then looked at once more.
    if (open.length > 0 && open.every((line) => HOST_CLOSED_STATES.includes(line.trim().split(/\s+/)[0] ?? ""))) {
      this.options.logger.warn(
        { sandboxId: id, connections: open.map(describeConnection) },
        "aborting host connections the sandbox did not close before a checkpoint",
      );
      await this.network.killHostClosedConnections(addr);
      open = await this.network.waitConnectionsClosed(addr, 1_000);
    }
    if (open.length > 0) {
      throw new BurrowError(
        ErrorCode.Conflict,
        `sandbox ${id} still has open connections from the host; a checkpoint now could not be restored`,
        { details: { connections: open.map(describeConnection) } },
      );
    }
  }

  /** Starts a checkpointed sandbox again from `imageDir`: same processes, same memory. */
  async restore(spec: RestoreSpec): Promise<void> {
    // A container record left by an interrupted checkpoint would block the restore.
    await this.runRunsc(spec.id, ["delete", "--force", spec.id], "delete");
    const addr = await this.ensureHostResources(spec);
    const bundle = join(this.dir(spec.id), "bundle");
    await this.startInNamespace(
      spec.id,
      addr,
      ["restore", "--detach", `--image-path=${spec.imageDir}`, `--bundle=${bundle}`, spec.id],
      "restore",
    );
  }

  /** Starts a stopped or failed sandbox afresh on the files it has (no memory, new processes). */
  async restart(spec: RestartSpec): Promise<void> {
    await this.runRunsc(spec.id, ["delete", "--force", spec.id], "delete");
    const addr = await this.ensureHostResources(spec);
    const bundle = join(this.dir(spec.id), "bundle");
    await upgradeBundle(bundle);
    await writeAgentToken(join(this.dir(spec.id), "run"), spec.agentToken);
    await this.startInNamespace(spec.id, addr, ["run", "--detach", `--bundle=${bundle}`, spec.id], "run");
  }

  async provideAgentToken(id: string, token: string): Promise<void> {
    await writeAgentToken(join(this.dir(id), "run"), token);
  }

  async stop(id: string): Promise<void> {
    if ((await this.freezer.state(id)) === "FROZEN") await this.freezer.thaw(id).catch(() => undefined);
    const del = await this.runRunsc(id, ["delete", "--force", id], "delete");
    if (del.exitCode !== 0 && !/not exist|not found|cannot load container/i.test(del.stderr)) {
      throw this.failure("delete", del, "");
    }
  }

  upperDir(id: string): string {
    return join(this.dir(id), "upper");
  }

  restoreStaging(id: string): { staging: string; upper: string } {
    const dir = this.dir(id);
    if (!hasDisk(dir)) return { staging: join(dir, "upper.restore"), upper: join(dir, "upper") };
    // The disk's own path of the upper dir: a link across the <dir>/upper bind mount fails (EXDEV).
    return { staging: diskStagingDir(dir), upper: overlayDirs(dir).upper };
  }

  async takeUpper(id: string, dest: string): Promise<void> {
    const dir = this.dir(id);
    await this.unmountRootfs(dir);
    // A disk's files are copied off it (another file system); host upper dirs are moved.
    if (hasDisk(dir)) return clearDiskUpper(this.options.runner, dir, dest);
    await rename(join(dir, "upper"), dest);
    await mkdir(join(dir, "upper"));
  }

  private async unmountRootfs(dir: string): Promise<void> {
    const rootfs = join(dir, "rootfs");
    const umount = await this.options.runner.run(["umount", rootfs], { timeoutMs: MOUNT_TIMEOUT_MS });
    if (umount.exitCode !== 0 && !/not mounted|no mount point|No such file/i.test(umount.stderr)) {
      throw new BurrowError(ErrorCode.RuntimeFailed, `unmounting the sandbox rootfs failed: ${umount.stderr.trim()}`);
    }
  }

  async replaceUpper(id: string, newUpper: string): Promise<void> {
    const dir = this.dir(id);
    const rootfs = join(dir, "rootfs");
    const umount = await this.options.runner.run(["umount", rootfs], { timeoutMs: MOUNT_TIMEOUT_MS });
    if (umount.exitCode !== 0 && !/not mounted|no mount point|No such file/i.test(umount.stderr)) {
      throw new BurrowError(ErrorCode.RuntimeFailed, `unmounting the sandbox rootfs failed: ${umount.stderr.trim()}`);
    }
    if (hasDisk(dir) && newUpper === diskStagingDir(dir)) return swapDiskUpper(this.options.runner, dir);
    if (hasDisk(dir)) {
      await clearDiskUpper(this.options.runner, dir);
      await fillDiskUpper(this.options.runner, dir, newUpper);
      await removeTree(newUpper);
      return;
    }
    const old = join(dir, `upper.old-${Date.now()}`);
    await rename(join(dir, "upper"), old);
    await rename(newUpper, join(dir, "upper"));
    // The overlay workdir must not carry state from the previous upper dir.
    await removeTree(join(dir, "work"));
    await mkdir(join(dir, "work"), { recursive: true });
    await removeTree(old);
  }

  /** Makes sure the overlay is mounted and the network exists (both vanish on a host reboot). */
  private async ensureHostResources(spec: RestartSpec): Promise<SandboxAddresses> {
    const dir = this.dir(spec.id);
    const addr = sandboxAddresses(spec.id, spec.networkIndex, this.options.networkPrefix);
    const rootfs = join(dir, "rootfs");
    const mounts = await readFile("/proc/mounts", "utf8");
    if (!mounts.split("\n").some((line) => line.split(" ")[1] === rootfs)) {
      await mountSandboxDisk(this.options.runner, dir);
      await mountOverlay(this.options.runner, dir, spec.templateLayers, { ...overlayDirs(dir), rootfs });
    }
    await ensureTmpDir(rootfs);
    if (!(await this.network.exists(addr))) await this.network.setup(addr, dir);
    else await this.network.readdAddress(addr);
    return addr;
  }

  private async waitStopped(id: string): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    while (Date.now() < deadline) {
      const st = await this.status(id);
      if (st.status === "stopped" || st.status === "absent") return;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new BurrowError(ErrorCode.RuntimeFailed, `sandbox ${id} did not stop after its checkpoint`);
  }

  async list(): Promise<RuntimeSandbox[]> {
    let ids: string[];
    try {
      ids = await readdir(this.options.runscStateDir);
    } catch {
      return [];
    }
    const found = await Promise.all(ids.filter((id) => !id.startsWith(".")).map((id) => this.status(id)));
    return found.filter((s) => s.status !== "absent");
  }

  async usage(id: string): Promise<SandboxUsage> {
    const disk = await sandboxDiskUsage(this.dir(id));
    return {
      ...(await readCgroupUsage(id)),
      ...(disk ? { diskUsedBytes: disk.usedBytes, diskTotalBytes: disk.totalBytes } : {}),
    };
  }

  async updateResources(id: string, resources: SandboxResources): Promise<void> {
    const dir = this.dir(id);
    // The disk first: it is the change that can be refused (then nothing has changed).
    if (hasDisk(dir) && (await sandboxDiskSizeMb(dir)) < resources.diskMb) {
      const { status } = await this.status(id);
      const running = status === "running" || status === "paused";
      if (!running) await this.unmountRootfs(dir);
      await growSandboxDisk(this.options.runner, dir, resources.diskMb, running);
    }
    // The bundle's spec is what every later run and restore starts from.
    const configPath = join(dir, "bundle", "config.json");
    const spec = JSON.parse(await readFile(configPath, "utf8")) as {
      linux?: { resources?: { cpu?: { quota?: number; period?: number } } };
    };
    const cpu = spec.linux?.resources?.cpu;
    if (cpu) {
      cpu.quota = Math.round(resources.vcpus * CPU_PERIOD_US);
      cpu.period = CPU_PERIOD_US;
      await writeFile(configPath, JSON.stringify(spec), { mode: 0o600 });
    }
    await writeCpuQuota(id, resources.vcpus);
  }

  async exec(id: string, argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    const args = ["exec"];
    if (options.user) args.push(`--user=${options.user}`);
    if (options.cwd) args.push(`--cwd=${options.cwd}`);
    for (const [k, v] of Object.entries(options.env ?? {})) args.push(`--env=${k}=${v}`);
    args.push(id, ...argv);
    const result = await this.options.runner.run(this.runscArgv(id, args), {
      timeoutMs: options.timeoutMs ?? this.timeoutMs,
      ...(options.onOutput === undefined ? {} : { onOutput: options.onOutput }),
    });
    if (result.timedOut) throw new BurrowError(ErrorCode.Timeout, `command timed out in sandbox ${id}`);
    return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
  }

  agentEndpoint(id: string, networkIndex: number): AgentEndpoint {
    return { host: sandboxAddresses(id, networkIndex, this.options.networkPrefix).sandboxIp, port: this.agentPort };
  }

  async agentLogTail(id: string): Promise<string> {
    return tailLines(readableLog(await readAgentLog(join(this.dir(id), "run"))), 20);
  }

  async close(): Promise<void> {
    await this.blankDisks.close();
    await this.options.runner.close();
  }
}
