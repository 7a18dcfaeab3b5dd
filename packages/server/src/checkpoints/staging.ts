import { spawn } from "node:child_process";
import { type FileHandle, link, mkdir, open, readdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CHUNK_BYTES, type ChunkSink, chunkFile, type ManifestEntry, type MemoryFile } from "./manifest.js";
import { listTarFiles, readAt } from "./tar-reader.js";

/**
 * A checkpoint taken but not yet stored: the sandbox's changed files and memory image copied
 * aside while it was paused, and the scanned file list. Lives in `<sandbox dir>/checkpoint-stage-<cid>`
 * until its contents are in the blob store, so a server stop in between loses nothing.
 *
 *   plan.json   entries (unchanged files already carry their chunk hashes) and the paths still to chunk
 *   files.tar   copies of those paths
 *   image/      the memory image of a full checkpoint
 */
export interface StagePlan {
  entries: ManifestEntry[];
  /** Paths (relative to the upper dir) whose copies under files/ must still be chunked. */
  pending: string[];
  /** A memory image was written to image/. */
  memory: boolean;
}

export const STAGE_PREFIX = "checkpoint-stage-";

export function stageDirFor(sandboxDir: string, cid: string): string {
  return join(sandboxDir, `${STAGE_PREFIX}${cid}`);
}

export const stageArchive = (stage: string) => join(stage, "files.tar");
export const stageImage = (stage: string) => join(stage, "image");

const COPY_TIMEOUT_MS = 120_000;

/**
 * Copies `paths` (relative to `upper`) into the stage's files.tar: one `tar` reading them in a
 * row and writing one file (far fewer file creations than copying them one by one), no hashing,
 * so a paused sandbox is not held up by the blob store.
 */
export function copyToStage(upper: string, paths: string[], stage: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      "tar",
      [
        "--create",
        `--file=${stageArchive(stage)}`,
        "--format=gnu",
        "--hard-dereference",
        "--no-recursion",
        "--null",
        "--files-from=-",
      ],
      { cwd: upper, stdio: ["pipe", "ignore", "pipe"], timeout: COPY_TIMEOUT_MS, killSignal: "SIGKILL" },
    );
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`tar of the changed files failed (${signal ?? code}): ${stderr.trim().slice(-500)}`));
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(paths.map((p) => `${p}\0`).join(""));
  });
}

/** Hard-links an existing image (a hibernated sandbox's) into the stage (instant). */
export async function linkImageToStage(imageDir: string, stage: string): Promise<void> {
  const target = stageImage(stage);
  await mkdir(target, { recursive: true, mode: 0o700 });
  for (const name of await readdir(imageDir)) await link(join(imageDir, name), join(target, name));
}

/** Writes plan.json last and atomically: a stage without it is incomplete and is discarded. */
export async function writePlan(stage: string, plan: StagePlan): Promise<void> {
  const temp = join(stage, "plan.json.tmp");
  await writeFile(temp, JSON.stringify(plan));
  await rename(temp, join(stage, "plan.json"));
}

export async function readPlan(stage: string): Promise<StagePlan | undefined> {
  try {
    return JSON.parse(await readFile(join(stage, "plan.json"), "utf8")) as StagePlan;
  } catch {
    return undefined;
  }
}

/** Sizes of the memory image files in the stage. */
export async function imageBytes(stage: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(stageImage(stage))) total += (await stat(join(stageImage(stage), name))).size;
  return total;
}

/** Files chunked at once. */
const INGEST_CONCURRENCY = 8;

/** Splits `size` bytes at `offset` of `fh` into chunks for `sink`, as chunkFile does a file (none when empty). */
async function chunkRange(
  fh: FileHandle,
  offset: number,
  size: number,
  sink: ChunkSink,
): Promise<{ chunks: string[]; newBytes: number }> {
  const chunks: string[] = [];
  let newBytes = 0;
  for (let done = 0; done < size; ) {
    const data = await readAt(fh, offset + done, Math.min(CHUNK_BYTES, size - done));
    if (data.length === 0) throw new Error("the staged archive ends early");
    const put = await sink(data);
    chunks.push(put.hash);
    newBytes += put.newBytes;
    done += data.length;
  }
  return { chunks, newBytes };
}

/**
 * Chunks everything the plan still needs into `sink`: the changed files from files.tar (their
 * entries get their hashes) and the memory image. Returns the completed entries and memory files.
 */
export async function ingestStage(
  stage: string,
  plan: StagePlan,
  sink: ChunkSink,
): Promise<{ entries: ManifestEntry[]; memory: MemoryFile[] | undefined; newBytes: number }> {
  const byPath = new Map(plan.entries.map((e) => [e.path, e]));
  let newBytes = 0;
  if (plan.pending.length > 0) {
    const fh = await open(stageArchive(stage), "r");
    try {
      const archived = new Map((await listTarFiles(fh)).map((f) => [f.path, f]));
      let next = 0;
      const worker = async () => {
        while (next < plan.pending.length) {
          const path = plan.pending[next++] as string;
          const entry = byPath.get(path);
          const file = archived.get(path);
          if (!entry || !file) throw new Error(`the staged copy of ${path} is missing`);
          const result = await chunkRange(fh, file.offset, file.size, sink);
          entry.chunks = result.chunks;
          newBytes += result.newBytes;
        }
      };
      await Promise.all(Array.from({ length: INGEST_CONCURRENCY }, worker));
    } finally {
      await fh.close();
    }
  }
  let memory: MemoryFile[] | undefined;
  if (plan.memory) {
    memory = [];
    for (const name of (await readdir(stageImage(stage))).sort()) {
      const path = join(stageImage(stage), name);
      const result = await chunkFile(path, sink);
      newBytes += result.newBytes;
      memory.push({ name, size: (await stat(path)).size, chunks: result.chunks });
    }
  }
  return { entries: plan.entries, memory, newBytes };
}
