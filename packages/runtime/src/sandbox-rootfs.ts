import { chmod, lstat, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BurrowError, ErrorCode } from "@burrow/core";
import type { CommandRunner } from "./command-runner.js";
import { caLayer } from "./trust-store.js";

export const MOUNT_TIMEOUT_MS = 10_000;
/** Per-sandbox file naming the extra lower layer (forks), so remounts use the same layers. */
const EXTRA_LOWER_FILE = "extra-lower.json";
/** Per-sandbox file naming its trust-store layer (the egress CA), mounted under its own files. */
const CA_LAYER_FILE = "ca-layer.json";

/** The overlay dirs of one sandbox. */
export interface RootfsPaths {
  upper: string;
  work: string;
  rootfs: string;
}

async function layerOf(sandboxDir: string, file: string): Promise<string | undefined> {
  try {
    const raw = JSON.parse(await readFile(join(sandboxDir, file), "utf8")) as { path?: unknown };
    return typeof raw.path === "string" ? raw.path : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Records, at create, the read-only layers a sandbox's overlay has besides its template: a fork's
 * snapshot (`extraLower`) and the layer adding `trustedCaPem` to the template's trust store
 * (built under `caLayersDir` once per template and CA). Every later mount uses the same layers.
 */
export async function recordLayers(
  sandboxDir: string,
  templateRootfs: string,
  opts: { extraLower?: string | undefined; trustedCaPem?: string | undefined; caLayersDir: string },
): Promise<void> {
  if (opts.extraLower !== undefined) {
    await writeFile(join(sandboxDir, EXTRA_LOWER_FILE), JSON.stringify({ path: opts.extraLower }));
  }
  if (opts.trustedCaPem !== undefined) {
    const layer = await caLayer(opts.caLayersDir, templateRootfs, opts.trustedCaPem);
    await writeFile(join(sandboxDir, CA_LAYER_FILE), JSON.stringify({ path: layer }));
  }
}

/** Mounts the sandbox's overlay: its upper dir over (top to bottom) a fork's snapshot, the CA layer, the template. */
export async function mountOverlay(
  runner: CommandRunner,
  sandboxDir: string,
  templateRootfs: string,
  p: RootfsPaths,
): Promise<void> {
  const layers = [
    await layerOf(sandboxDir, EXTRA_LOWER_FILE),
    await layerOf(sandboxDir, CA_LAYER_FILE),
    templateRootfs,
  ];
  const lower = layers.filter((l) => l !== undefined).join(":");
  const result = await runner.run(
    ["mount", "-t", "overlay", "overlay", "-o", `lowerdir=${lower},upperdir=${p.upper},workdir=${p.work}`, p.rootfs],
    { timeoutMs: MOUNT_TIMEOUT_MS },
  );
  if (result.exitCode !== 0) {
    throw new BurrowError(ErrorCode.RuntimeFailed, `mounting the sandbox rootfs failed: ${result.stderr.trim()}`);
  }
}

/**
 * Makes `<rootfs>/tmp` a real directory before runsc bind-mounts it as the sandbox's /tmp: runsc
 * resolves a bind source on the host, so a `tmp` that a layer (a restored or forked checkpoint)
 * holds as a symlink or anything else would expose whatever it points to. Such an entry is
 * removed (the overlay records a whiteout) and replaced by an empty 1777 directory.
 */
export async function ensureTmpDir(rootfs: string): Promise<void> {
  const tmp = join(rootfs, "tmp");
  const st = await lstat(tmp).catch(() => undefined);
  if (st?.isDirectory()) return;
  if (st) await rm(tmp, { force: true });
  await mkdir(tmp, { mode: 0o1777 });
  await chmod(tmp, 0o1777); // past the umask
}
