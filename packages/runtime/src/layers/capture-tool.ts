import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type ManifestEntry, type ScanResult, scanUpper } from "./entries.js";
import { copyToStage } from "./staging.js";

/**
 * The capture of a checkpoint (walk the upper dir, copy what changed into the stage), made ready
 * before the sandbox is held still so that only the walk and the copy fall in the pause.
 */
export interface PreparedCapture {
  /** Walks and copies now (the sandbox must be still); the scan, as scanUpper returns it. */
  run(): Promise<ScanResult>;
  /** Releases what prepare started, when run is not going to be called. */
  cancel(): Promise<void>;
}

/** Longest a capture may take before its tool is killed. */
const CAPTURE_TIMEOUT_MS = 300_000;
const KNOWN_FILE = "known.json";

/**
 * Prepares a capture of `upper` into `stage` (an existing, empty directory). With the
 * `burrow-capture` tool (`toolPath`), a process is started that has opened the upper dir and
 * loaded what `previous` knows, and waits for the go-ahead: no process start falls in the pause,
 * and its system calls cost a fraction of the same calls made one by one from here. Without it,
 * the same walk and copy run in this process (scanUpper, copyToStage). Both follow no link the
 * sandbox made, at any depth.
 */
export async function prepareCapture(
  toolPath: string | undefined,
  upper: string,
  stage: string,
  previous?: ReadonlyMap<string, ManifestEntry>,
): Promise<PreparedCapture> {
  if (toolPath === undefined || !existsSync(toolPath)) return inProcessCapture(upper, stage, previous);
  const known = join(stage, KNOWN_FILE);
  await writeFile(known, JSON.stringify(knownRows(previous)), { mode: 0o600 });
  const child = spawn(toolPath, [upper, stage, known], { stdio: ["pipe", "pipe", "pipe"] });
  const tool = new ToolProcess(child);
  try {
    await tool.ready();
  } catch (err) {
    await tool.kill();
    await rm(known, { force: true });
    throw err;
  }
  return {
    run: async () => {
      try {
        return toScan(await tool.go(), upper, previous);
      } finally {
        await rm(known, { force: true });
      }
    },
    cancel: async () => {
      await tool.kill();
      await rm(known, { force: true });
    },
  };
}

function inProcessCapture(
  upper: string,
  stage: string,
  previous?: ReadonlyMap<string, ManifestEntry>,
): PreparedCapture {
  return {
    run: async () => {
      const scan = await scanUpper(upper, previous);
      await copyToStage(
        upper,
        scan.pending.map((p) => p.entry.path),
        stage,
      );
      return scan;
    },
    cancel: async () => undefined,
  };
}

/** Files whose contents `previous` holds: [path, size, mtimeNs, ctimeNs, ino]. */
function knownRows(previous?: ReadonlyMap<string, ManifestEntry>): [string, number, string, string, string][] {
  const rows: [string, number, string, string, string][] = [];
  for (const e of previous?.values() ?? []) {
    if (e.type === "file" && e.chunks && e.ctimeNs !== undefined && e.ino !== undefined) {
      rows.push([e.path, e.size, e.mtimeNs, e.ctimeNs, e.ino]);
    }
  }
  return rows;
}

/** An entry as burrow-capture prints it: `changed` on files it copied into the stage. */
type ToolEntry = ManifestEntry & { changed?: boolean };

/** Unchanged files take their chunks from `previous`; the copied ones are pending. */
function toScan(found: ToolEntry[], upper: string, previous?: ReadonlyMap<string, ManifestEntry>): ScanResult {
  const entries: ManifestEntry[] = [];
  const pending: ScanResult["pending"] = [];
  for (const { changed, ...entry } of found) {
    if (entry.type === "file") {
      const chunks = changed ? undefined : previous?.get(entry.path)?.chunks;
      if (chunks) entry.chunks = chunks;
      else if (!changed) throw new Error(`burrow-capture kept ${entry.path} without copying it, but nothing knows it`);
      else pending.push({ entry, root: upper });
    }
    entries.push(entry);
  }
  return { entries, pending };
}

/** The burrow-capture child: "ready" on stdout, a line on stdin, then the entries as JSON. */
class ToolProcess {
  private stdout = "";
  private stderr = "";
  private readonly exited: Promise<number | null>;

  constructor(private readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      this.stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      this.stderr += d;
    });
    child.stdin.on("error", () => undefined); // a tool that died is reported by its exit
    this.exited = new Promise((resolve) => {
      child.on("error", (err) => {
        this.stderr += String(err);
        resolve(null);
      });
      child.on("close", (code) => resolve(code));
    });
  }

  async ready(): Promise<void> {
    while (!this.stdout.startsWith("ready\n")) {
      const exited = await Promise.race([this.exited, this.nextOutput().then(() => undefined)]);
      if (exited !== undefined) throw this.failure(exited);
    }
    this.stdout = this.stdout.slice("ready\n".length);
  }

  async go(): Promise<ToolEntry[]> {
    const timer = setTimeout(() => this.child.kill("SIGKILL"), CAPTURE_TIMEOUT_MS);
    try {
      this.child.stdin.end("go\n");
      const code = await this.exited;
      if (code !== 0) throw this.failure(code);
      return JSON.parse(this.stdout) as ToolEntry[];
    } finally {
      clearTimeout(timer);
    }
  }

  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    await this.exited;
  }

  private nextOutput(): Promise<void> {
    return new Promise((resolve) => this.child.stdout.once("data", () => resolve()));
  }

  private failure(code: number | null): Error {
    return new Error(`burrow-capture failed (exit ${code}): ${this.stderr.trim().slice(-500)}`);
  }
}
