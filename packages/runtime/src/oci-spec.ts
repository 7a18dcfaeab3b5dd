import type { SandboxResources } from "@burrow/core";
import type { BindMount } from "./runtime.js";
import { CPU_PERIOD_US } from "./sandbox-cgroups.js";

/** Where things live inside every sandbox. */
export const IN_SANDBOX = {
  agentBinary: "/opt/burrow/bin/burrow-agent",
  runDir: "/opt/burrow/run",
  agentLog: "/opt/burrow/run/agent.log",
  /** The agent's access token, written by the host before each start and removed by the agent. */
  tokenFile: "/opt/burrow/run/token",
} as const;

export interface OciSpecInput {
  id: string;
  rootfsPath: string;
  /** Host directory bind-mounted at /opt/burrow/run (agent log, token file). */
  runDirPath: string;
  /** A host file bind-mounted read-only at /etc/resolv.conf (the sandbox's DNS server). */
  resolvConfPath?: string;
  agentBinaryPath: string;
  resources: SandboxResources;
  agentPort: number;
  /** Network namespace (name under /var/run/netns) whose interfaces gVisor takes over. */
  netns: string;
  /** Host folders bind-mounted into the sandbox (volumes), after the system mounts. */
  binds?: BindMount[];
}

const CAPABILITIES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_SETFCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_RAW",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_MKNOD",
  "CAP_AUDIT_WRITE",
];

/**
 * The host cgroup's task limit for a sandbox allowed `pids` processes inside. The host also
 * counts gVisor's own threads (~40 idle) and a systrap stub per process, so it needs room above
 * `pids`: the sandbox's processes hit RLIMIT_NPROC inside (EAGAIN) before gVisor hits this
 * limit, which it cannot survive.
 */
export function hostPidsLimit(pids: number): number {
  return pids * 8 + 512;
}

/** Builds the OCI runtime spec (config.json) for a sandbox whose PID 1 is the Burrow agent. */
export function buildOciSpec(input: OciSpecInput): Record<string, unknown> {
  // The agent (PID 1) alone holds CAP_SYS_RESOURCE: it is outside the bounding set, so no process
  // it starts gets it. That exempts the agent's own threads from RLIMIT_NPROC below, while every
  // process in the sandbox inherits the limit and none can raise it.
  const agentCaps = [...CAPABILITIES, "CAP_SYS_RESOURCE"];
  const caps = { bounding: CAPABILITIES, effective: agentCaps, permitted: agentCaps };
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      // The token is never in PID 1's environment or argv (/proc/1/environ and /proc/1/cmdline
      // are readable by every user in the sandbox): the agent reads it from a root-only file.
      args: [
        IN_SANDBOX.agentBinary,
        "--port",
        String(input.agentPort),
        "--log-file",
        IN_SANDBOX.agentLog,
        "--token-file",
        IN_SANDBOX.tokenFile,
      ],
      env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"],
      cwd: "/",
      capabilities: caps,
      rlimits: [
        { type: "RLIMIT_NOFILE", hard: 1048576, soft: 1048576 },
        // gVisor enforces it per user inside the sandbox: a fork bomb gets EAGAIN, not the sandbox.
        { type: "RLIMIT_NPROC", hard: input.resources.pids, soft: input.resources.pids },
      ],
      noNewPrivileges: false,
    },
    root: { path: input.rootfsPath, readonly: false },
    hostname: "sandbox",
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "mode=755"] },
      {
        destination: "/dev/pts",
        type: "devpts",
        source: "devpts",
        options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
      },
      { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "nodev", "mode=1777"] },
      { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
      // /tmp on the sandbox's disk layer (gVisor would otherwise put a tmpfs there, lost on restart).
      { destination: "/tmp", type: "bind", source: `${input.rootfsPath}/tmp`, options: ["rbind", "rw"] },
      { destination: IN_SANDBOX.agentBinary, type: "bind", source: input.agentBinaryPath, options: ["rbind", "ro"] },
      { destination: IN_SANDBOX.runDir, type: "bind", source: input.runDirPath, options: ["rbind", "rw"] },
      ...(input.resolvConfPath
        ? [{ destination: "/etc/resolv.conf", type: "bind", source: input.resolvConfPath, options: ["rbind", "ro"] }]
        : []),
      // Volumes: shared with other sandboxes and the host (gVisor's --file-access-mounts=shared
      // revalidates what it caches, so each sees the others' writes).
      ...(input.binds ?? []).map((b) => ({
        destination: b.destination,
        type: "bind",
        source: b.source,
        options: ["rbind", b.readOnly ? "ro" : "rw", "nosuid", "nodev"],
      })),
    ],
    linux: {
      cgroupsPath: `/burrow/${input.id}`,
      resources: {
        memory: { limit: input.resources.memoryMb * 1024 * 1024 },
        cpu: { quota: Math.round(input.resources.vcpus * CPU_PERIOD_US), period: CPU_PERIOD_US },
        pids: { limit: hostPidsLimit(input.resources.pids) },
      },
      namespaces: [
        { type: "pid" },
        { type: "network", path: `/var/run/netns/${input.netns}` },
        { type: "ipc" },
        { type: "uts" },
        { type: "mount" },
      ],
    },
  };
}
