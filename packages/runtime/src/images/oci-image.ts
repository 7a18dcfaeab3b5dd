import { execFile } from "node:child_process";
import { constants } from "node:fs";
import { chmod, lstat, mkdir, open } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { BurrowError, ErrorCode } from "@burrow/core";
import { removeTree } from "../layers/safe-fs.js";

const run = promisify(execFile);
/** Longest an image copy or unpack may take (a registry pull of a large image). */
const TOOL_TIMEOUT_MS = 20 * 60_000;

/** Where an image comes from, in skopeo's transport syntax. */
export type ImageSource =
  | { transport: "oci-archive" | "docker-archive"; path: string }
  | { transport: "docker"; reference: string };

/** The parts of an OCI image config a template keeps. */
export interface ImageConfig {
  env: Record<string, string>;
  user?: string;
  workdir?: string;
  /** Entrypoint and Cmd joined, as Docker would run them. */
  command?: string[];
  exposedPorts: number[];
  labels: Record<string, string>;
}

export interface UnpackedImage {
  /** sha256 of the image manifest: the same image always gives the same digest. */
  manifestDigest: string;
  config: ImageConfig;
}

function skopeoRef(source: ImageSource): string {
  return source.transport === "docker" ? `docker://${source.reference}` : `${source.transport}:${source.path}`;
}

function toolFailed(what: string, err: unknown): BurrowError {
  const stderr = String((err as { stderr?: string }).stderr ?? (err as Error).message ?? err).trim();
  return new BurrowError(
    ErrorCode.ValidationFailed,
    `${what}: ${stderr.split("\n").slice(-3).join(" ").slice(0, 500)}`,
    {
      details: { field: "from" },
    },
  );
}

/**
 * Copies the image into an OCI layout under `workDir` (skopeo), then flattens its layers into
 * the empty directory `rootfs` (umoci, which applies whiteouts and keeps every path inside the
 * target), and adds the mount points a Burrow sandbox needs (the agent binary, its run dir,
 * /tmp). Returns the manifest digest and the config. A missing or malformed archive, or an
 * unreachable registry, is a 400 naming the tool's complaint.
 */
export async function unpackImage(source: ImageSource, workDir: string, rootfs: string): Promise<UnpackedImage> {
  const layout = `${join(workDir, "layout")}:image`;
  await mkdir(workDir, { recursive: true, mode: 0o700 });
  try {
    await run("skopeo", ["copy", "--quiet", skopeoRef(source), `oci:${layout}`], { timeout: TOOL_TIMEOUT_MS });
  } catch (err) {
    throw toolFailed(`cannot read the image ${skopeoRef(source)}`, err);
  }
  let manifestDigest: string;
  let raw: { config?: Record<string, unknown> };
  try {
    const inspected = JSON.parse((await run("skopeo", ["inspect", `oci:${layout}`], { timeout: 60_000 })).stdout) as {
      Digest?: string;
    };
    manifestDigest = (inspected.Digest ?? "").replace(/^sha256:/, "");
    raw = JSON.parse((await run("skopeo", ["inspect", "--config", `oci:${layout}`], { timeout: 60_000 })).stdout);
  } catch (err) {
    throw toolFailed("cannot read the image's manifest", err);
  }
  if (!/^[0-9a-f]{64}$/.test(manifestDigest)) throw toolFailed("the image has no sha256 manifest digest", "");
  try {
    await run("umoci", ["raw", "unpack", "--image", layout, rootfs], { timeout: TOOL_TIMEOUT_MS });
  } catch (err) {
    throw toolFailed("cannot unpack the image's layers", err);
  }
  // The image is the uploader's: its opt/ or tmp could be links to host paths. Nothing touches
  // the tree meanwhile, so checking each component from the top (lstat) and replacing anything
  // that is not a real directory keeps every write below `rootfs`.
  await realDirs(rootfs, ["opt", "burrow", "bin"]);
  await realDirs(rootfs, ["opt", "burrow", "run"]);
  await realDirs(rootfs, ["tmp"], 0o1777);
  const agent = join(rootfs, "opt/burrow/bin/burrow-agent");
  await removeTree(agent);
  const fh = await open(agent, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o755);
  await fh.close();
  return { manifestDigest, config: imageConfig(raw.config ?? {}) };
}

function imageConfig(c: Record<string, unknown>): ImageConfig {
  const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);
  const env: Record<string, string> = {};
  for (const kv of strings(c.Env)) {
    const eq = kv.indexOf("=");
    if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const command = [...strings(c.Entrypoint), ...strings(c.Cmd)];
  const exposedPorts = Object.keys((c.ExposedPorts as Record<string, unknown> | undefined) ?? {})
    .map((p) => Number.parseInt(p, 10))
    .filter((p) => p >= 1 && p <= 65535);
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries((c.Labels as Record<string, unknown> | undefined) ?? {})) {
    if (typeof v === "string") labels[k] = v;
  }
  const out: ImageConfig = { env, exposedPorts, labels };
  if (typeof c.User === "string" && c.User !== "") out.user = c.User;
  if (typeof c.WorkingDir === "string" && c.WorkingDir !== "") out.workdir = c.WorkingDir;
  if (command.length > 0) out.command = command;
  return out;
}

/** Makes `parts` below `root` real directories, replacing any component that is a link or a file. */
async function realDirs(root: string, parts: string[], mode = 0o755): Promise<void> {
  let path = root;
  for (const part of parts) {
    path = join(path, part);
    const st = await lstat(path).catch(() => undefined);
    if (st?.isDirectory()) continue;
    if (st) await removeTree(path);
    await mkdir(path, { mode });
    await chmod(path, mode);
  }
}
