import type { SandboxResources } from "@burrow/core";
import type { EgressProxyPorts, EgressRules } from "./host-firewall.js";

/** What the runtime needs to start one sandbox. */
export interface SandboxSpec {
  id: string;
  /**
   * Read-only lower layers of the template version, top first (overlayfs order), as host
   * directories. Recorded with the sandbox, so restarts, restores and wakes mount the same stack.
   */
  templateLayers: string[];
  resources: SandboxResources;
  /** Token the in-sandbox agent requires on every request. */
  agentToken: string;
  /** Allocated by the server, unique among live sandboxes; picks the sandbox's /30 subnet. */
  networkIndex: number;
  /**
   * Optional read-only layer between the template and the sandbox's upper dir (a fork's
   * checkpoint snapshot). Kept with the sandbox so restarts and restores mount it again.
   */
  extraLower?: string;
  /** A CA certificate (PEM) added to the sandbox's trust store before it starts. */
  trustedCaPem?: string;
  /**
   * Host folders bind-mounted into the sandbox (volumes). Kept in its bundle, so restarts and
   * restores mount them again; each source must exist (be mounted) whenever the sandbox starts.
   */
  binds?: BindMount[];
}

/** A host folder seen at `destination` inside a sandbox. */
export interface BindMount {
  source: string;
  destination: string;
  readOnly: boolean;
}

export interface RestartSpec {
  id: string;
  networkIndex: number;
  /**
   * The template's layers, top first: used only for a sandbox that has no recorded layer list
   * (one created by a release before templates had versions); otherwise the recorded list wins.
   */
  templateLayers: string[];
  /** The agent's access token, handed to a freshly started agent (a restore keeps its own). */
  agentToken: string;
}

export interface RestoreSpec extends RestartSpec {
  /** Directory holding the checkpoint image. */
  imageDir: string;
}

/** A new sandbox started from another one's memory image and files (snapshot templates, forks). */
export interface SnapshotRestoreSpec extends SandboxSpec {
  /** Directory holding the memory image (a full checkpoint's `runsc checkpoint` output). */
  imageDir: string;
  /**
   * The source sandbox's upper dir as captured with the image; copied, never modified. Absent
   * when `extraLower` already holds the source's files (forks: the new upper dir starts empty).
   */
  upperSnapshot?: string;
}

export interface AgentEndpoint {
  host: string;
  port: number;
}

export type RuntimeStatus = "running" | "paused" | "stopped" | "absent";

export interface RuntimeSandbox {
  id: string;
  status: RuntimeStatus;
  /** Host PID of the sandbox process, when running. */
  pid?: number;
}

/** What a sandbox uses now, read on the host (reading never wakes it). Absent: not known now. */
export interface SandboxUsage {
  /** CPU time used since its processes last started (create, restart, restore), in seconds. */
  cpuSeconds?: number;
  /** Host memory its cgroup holds (its processes and gVisor's own). */
  memoryBytes?: number;
  /** Bytes used and total on its disk (sandboxes with a disk of their own). */
  diskUsedBytes?: number;
  diskTotalBytes?: number;
}

export interface ExecOptions {
  /** "uid:gid" or a user name known inside the sandbox; default root. */
  user?: string;
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called with the command's output as it arrives (a runtime may call it only at the end). */
  onOutput?: (chunk: string, stream: "stdout" | "stderr") => void;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Drives sandboxes on the host. The server owns state and policy; the runtime only
 * performs operations and reports what it finds.
 */
export interface Runtime {
  /** Prepares the sandbox's filesystem and network and starts it with the agent as PID 1. */
  create(spec: SandboxSpec, signal?: AbortSignal): Promise<void>;
  /** Stops the sandbox and removes everything it had on the host. Idempotent. */
  destroy(id: string, networkIndex: number, signal?: AbortSignal): Promise<void>;
  status(id: string, signal?: AbortSignal): Promise<RuntimeSandbox>;
  /** Freezes every process of the sandbox; memory stays resident, CPU use drops to zero. */
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  /**
   * Writes memory and processes to `imageDir` and stops the sandbox; files, mount and network
   * stay. The caller must have closed its own connections to the sandbox first.
   */
  checkpoint(id: string, networkIndex: number, imageDir: string): Promise<void>;
  /**
   * Writes memory and processes to `imageDir` while the sandbox carries on: it is paused, the
   * image is written while `whilePaused` runs (both finish before it resumes), and it resumes.
   * A sandbox in standby is thawed for this and left running; the caller freezes it again.
   * The caller must have closed its own connections to the sandbox first.
   */
  liveCheckpoint(id: string, networkIndex: number, imageDir: string, whilePaused: () => Promise<void>): Promise<void>;
  /**
   * Lets a sandbox run again that a crash left paused in the middle of a live checkpoint or
   * frozen in the middle of an fs checkpoint. No-op for a running sandbox.
   */
  unpauseInterrupted(id: string): Promise<void>;
  /** Starts a checkpointed sandbox from its image: the same processes with the same memory. */
  restore(spec: RestoreSpec): Promise<void>;
  /**
   * Starts a new sandbox from another one's memory image and files: its processes and memory,
   * under the new id, network address and agent token (snapshot templates, forks with memory).
   */
  restoreAsNew(spec: SnapshotRestoreSpec): Promise<void>;
  /** Starts a stopped sandbox afresh on its files (new processes). */
  restart(spec: RestartSpec): Promise<void>;
  /**
   * Hands the running agent its access token again through a host-written, root-only file it
   * reads on its next request with a token it does not know: how the server takes back an agent
   * whose token was changed from inside the sandbox. Agents of older releases ignore it.
   */
  provideAgentToken(id: string, token: string): Promise<void>;
  /** Stops the sandbox's processes (memory is lost); files, mount and network stay. Idempotent. */
  stop(id: string): Promise<void>;
  /** The host directory holding the sandbox's own files (the overlay upper dir). */
  upperDir(id: string): string;
  /**
   * Where a restore builds the sandbox's next upper dir (`staging`): on the mount of its upper dir
   * as `upper` names it (the sandbox's disk, if it has one), so unchanged files can be hard-linked
   * from `upper` and the result moved into place by replaceUpper.
   */
  restoreStaging(id: string): { staging: string; upper: string };
  /**
   * Replaces the upper dir of a stopped sandbox with `newUpper` (a directory on the same file
   * system, which is moved into place) and unmounts the overlay; the next restart or restore
   * mounts it again over the new files.
   */
  replaceUpper(id: string, newUpper: string): Promise<void>;
  /**
   * Unmounts the overlay of a stopped sandbox and moves its upper dir to `dest` (same file
   * system), leaving an empty one: how a template build step's changes become a layer.
   */
  takeUpper(id: string, dest: string): Promise<void>;
  list(signal?: AbortSignal): Promise<RuntimeSandbox[]>;
  /** CPU, memory and disk the sandbox uses now, read on the host. */
  usage(id: string): Promise<SandboxUsage>;
  /**
   * Applies new limits to an existing sandbox, running or asleep: `vcpus` (its CPU quota now and at
   * every later start) and a larger `diskMb` (its disk grows in place). The caller has checked that
   * nothing else changes and the disk does not shrink.
   */
  updateResources(id: string, resources: SandboxResources): Promise<void>;
  /** Runs a command in the sandbox without the agent (fallback and diagnostics). */
  exec(id: string, argv: string[], options?: ExecOptions): Promise<ExecResult>;
  /** Where the sandbox's agent answers HTTP (its address on the sandbox's veth). */
  agentEndpoint(id: string, networkIndex: number): AgentEndpoint;
  /**
   * Sets up what the runtime needs on the host once per server start: firewall rules and, with
   * `egressPorts`, the redirection of the sandboxes' DNS, HTTP and TLS to the server's proxies.
   */
  prepareHost(egressPorts?: EgressProxyPorts): Promise<void>;
  /**
   * Removes what sandboxes not in `live` left on the host (runsc sandboxes, mounts, directories,
   * veths, routes, network namespaces of this server) and returns a line per thing removed.
   */
  reapLeftovers(live: ReadonlySet<string>): Promise<string[]>;
  /** Replaces the IP-level egress rules of a sandbox (its network must exist). */
  setEgress(id: string, networkIndex: number, rules: EgressRules): Promise<void>;
  /** Last lines the agent logged, for error reports. */
  agentLogTail(id: string): Promise<string>;
  close(): Promise<void>;
}
