import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { lstat, mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { readFileBeneath } from "./layers/safe-fs.js";

/** Where the CA appears in a sandbox (Debian's update-ca-certificates picks it up from there). */
export const SANDBOX_CA_PATH = "usr/local/share/ca-certificates/burrow-egress-ca.crt";
/** The bundle OpenSSL, curl and Python read by default on Debian. */
export const SANDBOX_CA_BUNDLE_PATH = "etc/ssl/certs/ca-certificates.crt";

/** Layers being built, by path. */
const inProgress = new Map<string, Promise<string>>();

/**
 * A read-only overlay layer that adds `pem` to a template's trust store: the CA as its own file,
 * and the bundle of the topmost template layer that has one, with the CA appended (left out when the template has no plain
 * bundle file). Mounted between the template and the sandbox's own files, so creating a sandbox
 * writes nothing, and a sandbox that rewrites its bundle copies it up as it would any file.
 * Built once per template build and CA under `layersDir` (written to a temporary name, then
 * renamed).
 */
export async function caLayer(layersDir: string, templateLayers: string[], pem: string): Promise<string> {
  const cert = pem.endsWith("\n") ? pem : `${pem}\n`;
  // The bundle comes from the topmost layer that has one.
  let templateRootfs = templateLayers[templateLayers.length - 1] ?? "";
  let bundle: Awaited<ReturnType<typeof lstat>> | undefined;
  for (const layer of templateLayers) {
    bundle = await lstat(join(layer, SANDBOX_CA_BUNDLE_PATH)).catch(() => undefined);
    if (bundle) {
      templateRootfs = layer;
      break;
    }
  }
  // A rebuilt template (a new bundle) gets a new layer.
  const version = bundle ? `${bundle.size}:${bundle.mtimeMs}:${bundle.ino}` : "none";
  const key = createHash("sha256").update(`${templateRootfs}\0${version}\0${cert}`).digest("hex").slice(0, 24);
  const layer = join(layersDir, key);
  // Creates running at the same time share one build.
  let building = inProgress.get(layer);
  if (!building) {
    building = buildLayer(layer, templateRootfs, cert).finally(() => inProgress.delete(layer));
    inProgress.set(layer, building);
  }
  return building;
}

async function buildLayer(layer: string, templateRootfs: string, cert: string): Promise<string> {
  if (existsSync(layer)) return layer;
  const tmp = `${layer}.tmp-${randomBytes(6).toString("hex")}`;
  try {
    await mkdir(join(tmp, dirname(SANDBOX_CA_PATH)), { recursive: true, mode: 0o755 });
    await writeFile(join(tmp, SANDBOX_CA_PATH), cert, { mode: 0o644 });
    // Read below the template rootfs without following any of its links (one open, no check-then-read).
    const read = await readFileBeneath(templateRootfs, SANDBOX_CA_BUNDLE_PATH.replace(/^\/+/, ""));
    if (read !== null) {
      const bundle = read.toString("utf8");
      await mkdir(join(tmp, dirname(SANDBOX_CA_BUNDLE_PATH)), { recursive: true, mode: 0o755 });
      const separator = bundle === "" || bundle.endsWith("\n") ? "" : "\n";
      await writeFile(join(tmp, SANDBOX_CA_BUNDLE_PATH), `${bundle}${separator}${cert}`, { mode: 0o644 });
    }
    await rename(tmp, layer).catch(async (err: NodeJS.ErrnoException) => {
      // Another create built the same layer first.
      if (!existsSync(layer)) throw err;
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return layer;
}
