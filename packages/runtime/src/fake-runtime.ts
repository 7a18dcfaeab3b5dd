import { existsSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { BurrowError, ErrorCode, type SandboxResources } from "@burrow/core";
import type { EgressRules } from "./host-firewall.js";
import type {
  AgentEndpoint,
  ExecResult,
  RestartSpec,
  RestoreSpec,
  Runtime,
  RuntimeSandbox,
  SandboxSpec,
  SandboxUsage,
  SnapshotRestoreSpec,
} from "./runtime.js";

/** In-memory Runtime for unit and component tests: records sandboxes, runs nothing. */
export class FakeRuntime implements Runtime {
  readonly sandboxes = new Map<string, { spec: SandboxSpec; status: RuntimeSandbox["status"] }>();
  /** When set, the next create fails with this message. */
  failNextCreate: string | undefined;

  async create(spec: SandboxSpec): Promise<void> {
    if (this.failNextCreate !== undefined) {
      const message = this.failNextCreate;
      this.failNextCreate = undefined;
      throw new BurrowError(ErrorCode.RuntimeFailed, message);
    }
    this.sandboxes.set(spec.id, { spec, status: "running" });
    // Like a real sandbox, it has a (here empty) file layer: checkpoints and snapshots read it.
    await mkdir(this.upperDir(spec.id), { recursive: true });
  }

  async prepareHost(): Promise<void> {}

  async reapLeftovers(): Promise<string[]> {
    return [];
  }

  /** Egress rules last set per sandbox. */
  readonly egress = new Map<string, EgressRules>();

  async setEgress(id: string, _networkIndex: number, rules: EgressRules): Promise<void> {
    this.egress.set(id, rules);
  }

  async destroy(id: string): Promise<void> {
    this.sandboxes.delete(id);
    // Its files go in the background: a destroy takes no longer than it did before they existed.
    void rm(dirname(this.upperDir(id)), { recursive: true, force: true }).catch(() => undefined);
  }

  async status(id: string): Promise<RuntimeSandbox> {
    const sb = this.sandboxes.get(id);
    return { id, status: sb ? sb.status : "absent" };
  }

  async list(): Promise<RuntimeSandbox[]> {
    return [...this.sandboxes].map(([id, sb]) => ({ id, status: sb.status }));
  }

  /** What usage() reports per sandbox; a running sandbox without an entry reports zeros. */
  readonly usages = new Map<string, SandboxUsage>();

  async usage(id: string): Promise<SandboxUsage> {
    const sb = this.sandboxes.get(id);
    if (!sb) return {};
    const disk = sb.spec.resources.diskMb * 1024 * 1024;
    const base = disk > 0 ? { diskUsedBytes: 0, diskTotalBytes: disk } : {};
    return { ...base, ...(sb.status === "running" ? { cpuSeconds: 0, memoryBytes: 0 } : {}), ...this.usages.get(id) };
  }

  async updateResources(id: string, resources: SandboxResources): Promise<void> {
    const sb = this.require(id);
    sb.spec = { ...sb.spec, resources };
  }

  async exec(id: string): Promise<ExecResult> {
    if (!this.sandboxes.has(id)) throw new BurrowError(ErrorCode.SandboxNotFound, `sandbox ${id} not found`);
    return { exitCode: 0, stdout: "", stderr: "" };
  }

  async pause(id: string): Promise<void> {
    this.require(id).status = "paused";
  }

  async resume(id: string): Promise<void> {
    this.require(id).status = "running";
  }

  /** Image directories written by checkpoint, as a stand-in for image files. */
  readonly images = new Map<string, string>();
  /** When set, the next checkpoint fails with this message. */
  failNextCheckpoint: string | undefined;

  async checkpoint(id: string, _networkIndex: number, imageDir: string): Promise<void> {
    const sb = this.require(id);
    this.throwQueuedCheckpointFailure();
    this.images.set(id, imageDir);
    // Stands in for runsc's image file, which the server checks before a restore.
    await mkdir(imageDir, { recursive: true });
    await writeFile(join(imageDir, "checkpoint.img"), "fake image");
    sb.status = "absent";
  }

  async liveCheckpoint(
    id: string,
    _networkIndex: number,
    imageDir: string,
    whilePaused: () => Promise<void>,
  ): Promise<void> {
    const sb = this.require(id);
    this.throwQueuedCheckpointFailure();
    sb.status = "paused";
    try {
      await mkdir(imageDir, { recursive: true });
      await writeFile(join(imageDir, "checkpoint.img"), "fake image");
      await whilePaused();
    } finally {
      sb.status = "running";
    }
  }

  async unpauseInterrupted(id: string): Promise<void> {
    const sb = this.sandboxes.get(id);
    if (sb?.status === "paused") sb.status = "running";
  }

  private throwQueuedCheckpointFailure(): void {
    if (this.failNextCheckpoint === undefined) return;
    const message = this.failNextCheckpoint;
    this.failNextCheckpoint = undefined;
    throw new BurrowError(ErrorCode.RuntimeFailed, message);
  }

  /** How many restores ran (to check that concurrent wakes share one). */
  restores = 0;

  async restore(spec: RestoreSpec): Promise<void> {
    this.restores++;
    await new Promise((r) => setTimeout(r, 20));
    if (this.images.get(spec.id) !== spec.imageDir && !existsSync(join(spec.imageDir, "checkpoint.img"))) {
      throw new BurrowError(ErrorCode.RuntimeFailed, `no checkpoint image at ${spec.imageDir}`);
    }
    this.require(spec.id).status = "running";
  }

  async restoreAsNew(spec: SnapshotRestoreSpec): Promise<void> {
    this.restores++;
    if (![...this.images.values()].includes(spec.imageDir) && !existsSync(join(spec.imageDir, "checkpoint.img"))) {
      throw new BurrowError(ErrorCode.RuntimeFailed, `no checkpoint image at ${spec.imageDir}`);
    }
    this.sandboxes.set(spec.id, { spec, status: "running" });
  }

  /** The spec of the last restart, per sandbox. */
  readonly restarts = new Map<string, RestartSpec>();

  async restart(spec: RestartSpec): Promise<void> {
    this.require(spec.id).status = "running";
    this.restarts.set(spec.id, spec);
  }

  /** Tokens handed to agents with provideAgentToken, by sandbox id (last one wins). */
  readonly providedTokens = new Map<string, string>();

  async provideAgentToken(id: string, token: string): Promise<void> {
    this.require(id);
    this.providedTokens.set(id, token);
  }

  async stop(id: string): Promise<void> {
    const sb = this.sandboxes.get(id);
    if (sb) sb.status = "stopped";
  }

  /** Fake sandboxes keep their files under the OS temp dir, in a directory per user. */
  restoreStaging(id: string): { staging: string; upper: string } {
    return { staging: `${this.upperDir(id)}.restore`, upper: this.upperDir(id) };
  }

  upperDir(id: string): string {
    return join(tmpdir(), `burrow-fake-runtime-${process.getuid?.() ?? 0}`, id, "upper");
  }

  /** Files a test puts in a sandbox's upper dir before takeUpper (path → content). */
  readonly upperFiles = new Map<string, Record<string, string>>();

  async takeUpper(id: string, dest: string): Promise<void> {
    this.require(id);
    await mkdir(dest, { recursive: true });
    for (const [path, content] of Object.entries(this.upperFiles.get(id) ?? {})) {
      await mkdir(join(dest, path, ".."), { recursive: true });
      await writeFile(join(dest, path), content);
    }
  }

  async replaceUpper(id: string, newUpper: string): Promise<void> {
    await rm(this.upperDir(id), { recursive: true, force: true });
    await rename(newUpper, this.upperDir(id));
  }

  private require(id: string) {
    const sb = this.sandboxes.get(id);
    if (!sb) throw new BurrowError(ErrorCode.RuntimeFailed, `fake sandbox ${id} does not exist`);
    return sb;
  }

  /** Simulates the sandbox process dying. */
  kill(id: string): void {
    const sb = this.sandboxes.get(id);
    if (sb) sb.status = "stopped";
  }

  /**
   * Where every fake sandbox's agent listens on 127.0.0.1. By default nothing does (port 9), so
   * requests fail like an unreachable agent; tests put a scripted envd there (tests/helpers).
   */
  agentPort = 9;

  agentEndpoint(): AgentEndpoint {
    return { host: "127.0.0.1", port: this.agentPort };
  }

  async agentLogTail(): Promise<string> {
    return "";
  }

  async close(): Promise<void> {}
}
