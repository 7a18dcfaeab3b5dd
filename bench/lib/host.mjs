import { readdirSync, readFileSync } from "node:fs";

/** MemTotal / MemAvailable in MB; "used" = total − available. */
export function meminfo() {
  const m = {};
  for (const line of readFileSync("/proc/meminfo", "utf8").split("\n")) {
    const [k, v] = line.split(":");
    if (v) m[k] = Number.parseInt(v, 10);
  }
  const mb = (kb) => Math.round((kb / 1024) * 10) / 10;
  return { totalMb: mb(m.MemTotal), availableMb: mb(m.MemAvailable), usedMb: mb(m.MemTotal - m.MemAvailable) };
}

/**
 * PSS and RSS (MB) summed over the host processes whose command line contains `needle` (e.g.
 * `--root=<data dir>/runsc`: every runsc-sandbox and runsc-gofer of one server) and their
 * descendants (the systrap stub processes, which have no command line).
 */
export function memoryOfProcesses(needle) {
  const parent = new Map();
  const matched = new Set();
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      parent.set(pid, stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ").includes(needle)) matched.add(pid);
    } catch {
      // gone meanwhile
    }
  }
  const isOurs = (pid, depth = 0) =>
    matched.has(pid) || (depth < 4 && parent.has(pid) && isOurs(parent.get(pid), depth + 1));
  let pssKb = 0;
  let rssKb = 0;
  let processes = 0;
  for (const pid of parent.keys()) {
    if (!isOurs(pid)) continue;
    try {
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
      pssKb += Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
      rssKb += Number(/^Rss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
      processes++;
    } catch {
      // gone meanwhile
    }
  }
  return { processes, pssMb: Math.round(pssKb / 102.4) / 10, rssMb: Math.round(rssKb / 102.4) / 10 };
}

/** RSS (MB) of one process. */
export function rssOf(pid) {
  try {
    const kb = Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
    return Math.round(kb / 102.4) / 10;
  } catch {
    return null;
  }
}
