import { closeSync, fstatSync, openSync, readSync, writeSync } from "node:fs";
import { type FileHandle, link, mkdir, open, readdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CHUNK_BYTES, type ChunkSink, chunkFile, type ManifestEntry, type MemoryFile } from "./entries.js";
import { FILE_FLAGS, fdPath, isAbsentError, openDirBeneathSync } from "./safe-fs.js";
import { listTarFiles, readAt } from "./tar-reader.js";

/**
 * A checkpoint taken but not yet stored: the sandbox's changed files and memory image copied
 * aside while it was paused, and the scanned file list. Lives in `<sandbox dir>/checkpoint-stage-<cid>`
 * until its contents are in the blob store, so a server stop in between loses nothing.
 *
 *   plan.json   entries (unchanged files already carry their chunk hashes) and the paths still to chunk
 *   files.dat   copies of those paths, one after another (files.json: where each one lies)
 *   image/      the memory image of a full checkpoint
 */
export interface StagePlan {
  entries: ManifestEntry[];
  /** Paths (relative to the upper dir) whose staged copies must still be chunked. */
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

/** One changed file copied into the stage's files.dat. */
interface StagedCopy {
  path: string;
  offset: number;
  size: number;
}

const stageData = (stage: string) => join(stage, "files.dat");
const stageIndex = (stage: string) => join(stage, "files.json");
const YIELD_EVERY_MS = 5;
const COPY_BUFFER_BYTES = 1024 * 1024;

/**
 * Copies `paths` (relative to `upper`) into the stage: their bytes one after another in
 * files.dat (far fewer file creations than copying them one by one) and where each one lies in
 * files.json; no hashing, so a paused sandbox is not held up by the blob store. Each file is
 * opened below `upper` without following any link (the layer belongs to the sandbox) and at any
 * depth; one that is gone or no longer a regular file is left out.
 */
export async function copyToStage(upper: string, paths: string[], stage: string): Promise<void> {
  const out = openSync(stageData(stage), "w", 0o600);
  const copies: StagedCopy[] = [];
  const buf = Buffer.allocUnsafe(COPY_BUFFER_BYTES);
  let offset = 0;
  let dirRel: string | undefined;
  let dirFd: number | null = null;
  // Plain system calls (no thread-pool round trip per call: ~10× faster for many small files),
  // letting the event loop run every few milliseconds.
  let slice = performance.now();
  const breathe = async () => {
    if (performance.now() - slice < YIELD_EVERY_MS) return;
    await new Promise((r) => setImmediate(r));
    slice = performance.now();
  };
  try {
    for (const path of [...paths].sort()) {
      const cut = path.lastIndexOf("/");
      const parent = cut === -1 ? "" : path.slice(0, cut);
      if (parent !== dirRel) {
        if (dirFd !== null) closeSync(dirFd);
        dirFd = openDirBeneathSync(upper, parent);
        dirRel = parent;
      }
      if (dirFd === null) continue;
      let fd: number;
      try {
        fd = openSync(fdPath(dirFd, path.slice(cut + 1)), FILE_FLAGS);
      } catch (err) {
        if (isAbsentError(err)) continue;
        throw err;
      }
      try {
        const st = fstatSync(fd);
        if (!st.isFile()) continue;
        let done = 0;
        while (done < st.size) {
          const n = readSync(fd, buf, 0, Math.min(buf.length, st.size - done), done);
          if (n === 0) break;
          writeSync(out, buf, 0, n, offset + done);
          done += n;
          await breathe();
        }
        copies.push({ path, offset, size: done });
        offset += done;
      } finally {
        closeSync(fd);
      }
      await breathe();
    }
  } finally {
    if (dirFd !== null) closeSync(dirFd);
    closeSync(out);
  }
  await writeFile(stageIndex(stage), JSON.stringify(copies));
}

/** Where each staged file's bytes lie: files.dat and files.json, or files.tar of earlier releases. */
async function stagedCopies(stage: string): Promise<{ archive: string; copies: Map<string, StagedCopy> }> {
  try {
    const copies = JSON.parse(await readFile(stageIndex(stage), "utf8")) as StagedCopy[];
    return { archive: stageData(stage), copies: new Map(copies.map((c) => [c.path, c])) };
  } catch {
    const fh = await open(stageArchive(stage), "r");
    try {
      return { archive: stageArchive(stage), copies: new Map((await listTarFiles(fh)).map((f) => [f.path, f])) };
    } finally {
      await fh.close();
    }
  }
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
  const gone = new Set<string>();
  if (plan.pending.length > 0) {
    const { archive, copies: archived } = await stagedCopies(stage);
    const fh = await open(archive, "r");
    try {
      let next = 0;
      const worker = async () => {
        while (next < plan.pending.length) {
          const path = plan.pending[next++] as string;
          const entry = byPath.get(path);
          const file = archived.get(path);
          if (!entry) throw new Error(`the staged copy of ${path} has no entry`);
          if (!file) {
            gone.add(path); // vanished before it was copied: not part of the checkpoint
            continue;
          }
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
  const entries = gone.size === 0 ? plan.entries : plan.entries.filter((e) => !gone.has(e.path));
  return { entries, memory, newBytes };
}
