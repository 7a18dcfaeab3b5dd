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
/** Per-sandbox file listing its template version's layers, top first. */
const TEMPLATE_LAYERS_FILE = "template-layers.json";
/**
 * The kernel takes mount options up to one page; the upper and work dirs and the option names
 * need some of it, the lower dirs get the rest.
 */
export const MAX_LOWERDIR_CHARS = 3500;

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

async function recordedTemplateLayers(sandboxDir: string): Promise<string[] | undefined> {
  try {
    const raw = JSON.parse(await readFile(join(sandboxDir, TEMPLATE_LAYERS_FILE), "utf8")) as { layers?: unknown };
    const layers = raw.layers;
    return Array.isArray(layers) && layers.every((l) => typeof l === "string") ? (layers as string[]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Records, at create, the read-only layers of a sandbox's overlay: its template version's layers
 * (`templateLayers`, top first), a fork's snapshot (`extraLower`) and the layer adding
 * `trustedCaPem` to the template's trust store (built under `caLayersDir` once per layer stack
 * and CA). Every later mount uses the same layers.
 */
export async function recordLayers(
  sandboxDir: string,
  templateLayers: string[],
  opts: { extraLower?: string | undefined; trustedCaPem?: string | undefined; caLayersDir: string },
): Promise<void> {
  if (templateLayers.length === 0) {
    throw new BurrowError(ErrorCode.RuntimeFailed, "a sandbox needs at least one template layer");
  }
  await writeFile(join(sandboxDir, TEMPLATE_LAYERS_FILE), JSON.stringify({ layers: templateLayers }));
  if (opts.extraLower !== undefined) {
    await writeFile(join(sandboxDir, EXTRA_LOWER_FILE), JSON.stringify({ path: opts.extraLower }));
  }
  if (opts.trustedCaPem !== undefined) {
    const layer = await caLayer(opts.caLayersDir, templateLayers, opts.trustedCaPem);
    await writeFile(join(sandboxDir, CA_LAYER_FILE), JSON.stringify({ path: layer }));
  }
}

/**
 * Mounts the sandbox's overlay: its upper dir over (top to bottom) a fork's snapshot, the CA
 * layer, the template version's layers. The recorded layer list wins over `templateLayers`, which
 * only sandboxes created before layer lists were recorded use.
 */
export async function mountOverlay(
  runner: CommandRunner,
  sandboxDir: string,
  templateLayers: string[],
  p: RootfsPaths,
): Promise<void> {
  const layers = [
    await layerOf(sandboxDir, EXTRA_LOWER_FILE),
    await layerOf(sandboxDir, CA_LAYER_FILE),
    ...((await recordedTemplateLayers(sandboxDir)) ?? templateLayers),
  ];
  const lower = layers.filter((l) => l !== undefined).join(":");
  if (lower.length > MAX_LOWERDIR_CHARS) {
    throw new BurrowError(
      ErrorCode.RuntimeFailed,
      `the sandbox's layer stack is too deep to mount (${layers.length} layers, ${lower.length} characters of lowerdir)`,
    );
  }
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
