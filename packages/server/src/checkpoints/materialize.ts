import { execFile } from "node:child_process";
import { chmod, lchown, lutimes, mkdir, open, rm, symlink } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { BlobStore } from "../store/blob-store.js";
import type { ManifestEntry, MemoryFile } from "./manifest.js";

const run = promisify(execFile);
const TOOL_TIMEOUT_MS = 30_000;

/** Writes a chunked file from the blob store. */
export async function writeChunks(path: string, chunks: readonly string[], blobs: BlobStore, mode = 0o600) {
  const fh = await open(path, "w", mode);
  try {
    for (const hash of chunks) {
      const data = await blobs.get(hash);
      await fh.write(data, 0, data.length);
    }
  } finally {
    await fh.close();
  }
}

/**
 * Recreates a layer in the empty directory `dir` exactly as `entries` describe it: contents,
 * modes, owners, times, symlinks, overlayfs whiteouts (0:0 character devices) and opaque
 * directories. Runs as root (whiteouts need mknod, opaque markers a trusted.* xattr).
 */
export async function materialize(entries: readonly ManifestEntry[], dir: string, blobs: BlobStore): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const opaque: string[] = [];
  for (const e of sorted) {
    const abs = join(dir, e.path);
    switch (e.type) {
      case "dir":
        await mkdir(abs, { recursive: true, mode: 0o700 });
        if (e.opaque) opaque.push(abs);
        break;
      case "file":
        await writeChunks(abs, e.chunks ?? [], blobs);
        break;
      case "symlink":
        await symlink(e.target ?? "", abs);
        break;
      case "whiteout":
        await run("mknod", [abs, "c", "0", "0"], { timeout: TOOL_TIMEOUT_MS });
        break;
      case "fifo":
        await run("mknod", [abs, "p"], { timeout: TOOL_TIMEOUT_MS });
        break;
    }
  }
  for (const abs of opaque) {
    await run("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", abs], { timeout: TOOL_TIMEOUT_MS });
  }
  // Owners and modes, then times deepest first (creating a child changes its directory's mtime).
  for (const e of sorted) {
    const abs = join(dir, e.path);
    await lchown(abs, e.uid, e.gid);
    if (e.type !== "symlink") await chmod(abs, e.mode);
  }
  for (const e of [...sorted].reverse()) {
    const t = Number(BigInt(e.mtimeNs) / 1000n) / 1e6;
    await lutimes(join(dir, e.path), t, t);
  }
}

/** Writes the memory image files of a `full` checkpoint into `dir` (for runsc restore). */
export async function materializeMemory(files: readonly MemoryFile[], dir: string, blobs: BlobStore): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const f of files) await writeChunks(join(dir, f.name), f.chunks, blobs);
}
