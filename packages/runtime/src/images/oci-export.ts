import { execFile } from "node:child_process";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { BurrowError, ErrorCode } from "@burrow/core";
import type { ImageConfig } from "./oci-image.js";

const run = promisify(execFile);
/** Longest one step of an export may take (copying a large tree into a layer). */
const TOOL_TIMEOUT_MS = 20 * 60_000;
const MOUNT_TIMEOUT_MS = 10_000;

export interface ExportImageOptions {
  /** Overlay lower dirs, top first; whiteouts (0/0 character devices, opaque dirs) apply. */
  layers: string[];
  config: ImageConfig;
  /** The OCI archive to write (replaced if it exists). */
  archive: string;
  /** An empty scratch directory of the caller's, removed by the caller. */
  workDir: string;
  /** The tag inside the archive; default `latest`. */
  tag?: string;
}

function exportFailed(what: string, err: unknown): BurrowError {
  const stderr = String((err as { stderr?: string }).stderr ?? (err as Error).message ?? err).trim();
  return new BurrowError(ErrorCode.RuntimeFailed, `exporting the image failed: ${what}: ${stderr.slice(-500)}`);
}

async function tool(what: string, argv: string[], timeout = TOOL_TIMEOUT_MS): Promise<void> {
  const [cmd, ...args] = argv;
  try {
    await run(cmd as string, args, { timeout });
  } catch (err) {
    throw exportFailed(what, err);
  }
}

/** umoci config flags that set `config` on an image made by `umoci new` (which has none of it). */
export function configFlags(config: ImageConfig): string[] {
  const flags: string[] = [];
  for (const [k, v] of Object.entries(config.env)) flags.push("--config.env", `${k}=${v}`);
  if (config.user !== undefined) flags.push("--config.user", config.user);
  if (config.workdir !== undefined) flags.push("--config.workingdir", config.workdir);
  for (const arg of config.command ?? []) flags.push("--config.cmd", arg);
  for (const port of config.exposedPorts) flags.push("--config.exposedports", `${port}/tcp`);
  for (const [k, v] of Object.entries(config.labels)) flags.push("--config.label", `${k}=${v}`);
  return flags;
}

/**
 * Writes `layers` (flattened into one image layer) and `config` as an OCI archive. The layers
 * are merged by an overlay mount (the kernel applies their whiteouts; an empty dir at the
 * bottom makes even a single layer's whiteouts apply), umoci adds the merged tree as the layer of
 * a new image and sets its config, and skopeo writes the archive. Every child process has a
 * timeout; the mount is removed whatever happens.
 */
export async function exportImage(opts: ExportImageOptions): Promise<void> {
  if (opts.layers.length === 0) throw new BurrowError(ErrorCode.ValidationFailed, "an image needs at least one layer");
  // Mount options separate layers with ':' and options with ','.
  const bad = [...opts.layers, opts.workDir].find((p) => /[:,\n]/.test(p));
  if (bad !== undefined)
    throw new BurrowError(ErrorCode.ValidationFailed, `a layer path cannot hold ':' or ',': ${bad}`);
  const tag = opts.tag ?? "latest";
  const empty = join(opts.workDir, "empty");
  const merged = join(opts.workDir, "merged");
  const layout = join(opts.workDir, "layout");
  const upper = join(opts.workDir, "upper");
  const work = join(opts.workDir, "work");
  for (const d of [empty, merged, upper, work]) await mkdir(d, { recursive: true, mode: 0o755 });
  const lower = [...opts.layers, empty].join(":");
  // Writable (into the scratch dir): umoci changes a mode it cannot read through, which a
  // read-only mount refuses. The layers themselves are never written.
  const options = `lowerdir=${lower},upperdir=${upper},workdir=${work}`;
  await tool("mount", ["mount", "-t", "overlay", "overlay", "-o", options, merged], MOUNT_TIMEOUT_MS);
  try {
    await tool("umoci init", ["umoci", "init", "--layout", layout]);
    await tool("umoci new", ["umoci", "new", "--image", `${layout}:${tag}`]);
    await tool("umoci insert", ["umoci", "insert", "--image", `${layout}:${tag}`, merged, "/"]);
  } finally {
    await run("umount", [merged], { timeout: MOUNT_TIMEOUT_MS }).catch(() => undefined);
  }
  const flags = configFlags(opts.config);
  if (flags.length > 0) await tool("umoci config", ["umoci", "config", "--image", `${layout}:${tag}`, ...flags]);
  await rm(opts.archive, { force: true });
  await tool("skopeo copy", [
    "skopeo",
    "copy",
    "--quiet",
    `oci:${layout}:${tag}`,
    `oci-archive:${opts.archive}:${tag}`,
  ]);
}
