import { readdir, readFile, rm, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isSandboxId } from "@burrow/core";
import type { CommandRunner } from "./command-runner.js";
import { removeEgressRules } from "./host-firewall.js";
import { removeTree } from "./layers/safe-fs.js";
import { hostInterfaceOf } from "./network.js";
import { MOUNT_TIMEOUT_MS } from "./sandbox-rootfs.js";

const TIMEOUT_MS = 30_000;
const CGROUP_ROOT = "/sys/fs/cgroup";

/** What one server owns on the host: its data dir's sandbox and runsc dirs, and its network prefix. */
export interface LeftoverScope {
  sandboxesDir: string;
  runscStateDir: string;
  networkPrefix: string;
  runscPath: string;
  runner: CommandRunner;
}

async function entries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

/** Processes started by runsc for a state root under `runscStateDir`: pid and sandbox id. */
async function runscProcesses(runscStateDir: string): Promise<Array<{ pid: number; id: string }>> {
  const found: Array<{ pid: number; id: string }> = [];
  const flag = `--root=${runscStateDir}/`;
  for (const name of await entries("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let argv: string[];
    try {
      argv = (await readFile(`/proc/${name}/cmdline`, "utf8")).split("\0");
    } catch {
      continue;
    }
    const root = argv.find((a) => a.startsWith(flag));
    const id = root?.slice(flag.length).split("/")[0];
    if (id && isSandboxId(id)) found.push({ pid: Number(name), id });
  }
  return found;
}

/**
 * Removes what dead sandboxes of one server left on the host: every runsc sandbox (state root or
 * stray process), overlay mount and directory under its data dir, and every veth, route and
 * network namespace on its prefix, whose sandbox is not in `live`. Returns what it removed.
 * Only run while holding the prefix's lock (prefix-lock.ts): then everything on the prefix is ours.
 */
export async function reapLeftovers(scope: LeftoverScope, live: ReadonlySet<string>): Promise<string[]> {
  const { runner, sandboxesDir, runscStateDir, networkPrefix } = scope;
  const reaped: string[] = [];
  const dead = new Set<string>();
  const run = (argv: string[], timeoutMs = TIMEOUT_MS) => runner.run(argv, { timeoutMs });

  for (const id of await entries(runscStateDir)) {
    if (!isSandboxId(id) || live.has(id)) continue;
    dead.add(id);
    // A frozen sandbox cannot be killed until it is thawed.
    await writeFile(`/sys/fs/cgroup/freezer/burrow/${id}/freezer.state`, "THAWED").catch(() => undefined);
    const root = join(runscStateDir, id);
    const del = await run([scope.runscPath, `--root=${root}`, "delete", "--force", id]);
    if (del.exitCode === 0) reaped.push(`runsc sandbox ${id}`);
    await rm(root, { recursive: true, force: true });
  }
  for (const { pid, id } of await runscProcesses(runscStateDir)) {
    if (live.has(id)) continue;
    dead.add(id);
    try {
      process.kill(pid, "SIGKILL");
      reaped.push(`runsc process ${pid} of ${id}`);
    } catch {}
  }

  const mounts = (await readFile("/proc/mounts", "utf8"))
    .split("\n")
    .map((line) => line.split(" ")[1] ?? "")
    .filter((m) => m.startsWith(`${sandboxesDir}/`))
    .sort((a, b) => b.length - a.length);
  for (const mount of mounts) {
    const id = mount.slice(sandboxesDir.length + 1).split("/")[0] ?? "";
    if (!isSandboxId(id) || live.has(id)) continue;
    dead.add(id);
    const result = await run(["umount", "-l", mount], MOUNT_TIMEOUT_MS);
    if (result.exitCode === 0) reaped.push(`mount ${mount}`);
  }
  for (const id of await entries(sandboxesDir)) {
    if (!isSandboxId(id) || live.has(id)) continue;
    dead.add(id);
    // GNU rm, fd-relative: a sandbox's files can nest deeper than any path (and never on another mount).
    await removeTree(join(sandboxesDir, id));
    reaped.push(`directory ${join(sandboxesDir, id)}`);
  }

  const liveInterfaces = new Set([...live].map(hostInterfaceOf));
  const onPrefix = (address: string) => address.startsWith(`${networkPrefix}.`);
  // "7: bwabc@if2    inet 10.201.0.1/30 brd … scope global bwabc"
  const addresses = (await run(["ip", "-4", "-o", "addr", "show"])).stdout.split("\n");
  const deadInterfaces = new Set<string>();
  for (const line of addresses) {
    const m = /^\d+:\s+([^\s@]+)\S*\s+inet\s+(\S+)/.exec(line);
    const [, name = "", address = ""] = m ?? [];
    if (name.startsWith("bw") && onPrefix(address) && !liveInterfaces.has(name)) deadInterfaces.add(name);
  }
  for (const id of dead) deadInterfaces.add(hostInterfaceOf(id));
  for (const name of deadInterfaces) {
    const del = await run(["ip", "link", "del", name]);
    if (del.exitCode === 0) reaped.push(`veth ${name}`);
    await removeEgressRules(runner, name);
  }
  // "10.201.0.4/30 dev bwabc proto kernel scope link src 10.201.0.5"
  for (const line of (await run(["ip", "-4", "route", "show"])).stdout.split("\n")) {
    const m = /^(\S+) .*\bdev (\S+)/.exec(line);
    const [, dst = "", dev = ""] = m ?? [];
    if (!onPrefix(dst) || liveInterfaces.has(dev)) continue;
    const del = await run(["ip", "route", "del", dst, "dev", dev]);
    if (del.exitCode === 0) reaped.push(`route ${dst} dev ${dev}`);
  }
  for (const line of (await run(["ip", "netns", "list"])).stdout.split("\n")) {
    const netns = line.split(" ")[0] ?? "";
    const id = netns.slice("burrow-".length);
    if (!netns.startsWith("burrow-") || !isSandboxId(id) || live.has(id)) continue;
    if (!dead.has(id) && !deadInterfaces.has(hostInterfaceOf(id))) {
      // Not known to be ours: only if its own interface carries an address on our prefix.
      const inside = await run(["ip", "-n", netns, "-4", "-o", "addr", "show"]);
      if (!inside.stdout.split("\n").some((l) => onPrefix(/\binet\s+(\S+)/.exec(l)?.[1] ?? ""))) continue;
    }
    const del = await run(["ip", "netns", "del", netns]);
    if (del.exitCode === 0) reaped.push(`netns ${netns}`);
  }
  // runsc's cgroups (`<controller>/burrow/<id>`), empty once their processes are gone.
  const controllers = await entries(CGROUP_ROOT);
  for (const id of dead) {
    let removed = 0;
    for (const controller of controllers) {
      await rmdir(join(CGROUP_ROOT, controller, "burrow", id)).then(
        () => removed++,
        () => undefined,
      );
    }
    if (removed > 0) reaped.push(`cgroups of ${id}`);
  }
  return reaped;
}
