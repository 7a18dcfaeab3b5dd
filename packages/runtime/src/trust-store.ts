import { createHash, randomBytes } from "node:crypto";
import { type BigIntStats, existsSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { lstatBeneath, readFileBeneath } from "./layers/safe-fs.js";

/** Where the CA appears in a sandbox (Debian's update-ca-certificates picks it up from there). */
export const SANDBOX_CA_PATH = "usr/local/share/ca-certificates/burrow-egress-ca.crt";
/** The bundle OpenSSL, curl and Python read by default on Debian. */
export const SANDBOX_CA_BUNDLE_PATH = "etc/ssl/certs/ca-certificates.crt";
/** Read by every login shell (commands run through `bash -l`): points Node at the CAs too. */
export const SANDBOX_CA_PROFILE_PATH = "etc/profile.d/burrow-ca.sh";
/** Bumped when what a layer holds changes, so layers built before are not reused. */
const LAYER_FORMAT = "2";

/** Layers being built, by path. */
const inProgress = new Map<string, Promise<string>>();

/**
 * A read-only overlay layer that adds `pem` (one or more CA certificates) to a template's trust
 * store: the CAs as their own file, a login-shell profile pointing Node at it, and the bundle of
 * the topmost template layer that has one with the CAs appended (left out when the template has no plain
 * bundle file). Mounted between the template and the sandbox's own files, so creating a sandbox
 * writes nothing, and a sandbox that rewrites its bundle copies it up as it would any file.
 * Built once per template build and CA under `layersDir` (written to a temporary name, then
 * renamed).
 */
export async function caLayer(layersDir: string, templateLayers: string[], pem: string): Promise<string> {
  const cert = pem.endsWith("\n") ? pem : `${pem}\n`;
  // The bundle comes from the topmost layer that has that path (layers a build step made are the
  // sandbox's work: looked up without following any link in them). Anything there but a regular
  // file (a whiteout: deleted; a link) means the template has no plain bundle.
  let templateRootfs = templateLayers[templateLayers.length - 1] ?? "";
  let bundle: BigIntStats | null = null;
  for (const layer of templateLayers) {
    bundle = await lstatBeneath(layer, SANDBOX_CA_BUNDLE_PATH);
    if (bundle) {
      templateRootfs = layer;
      break;
    }
  }
  // A rebuilt template (a new bundle) gets a new layer.
  const version = bundle?.isFile() ? `${bundle.size}:${bundle.mtimeNs}:${bundle.ino}` : "none";
  const key = createHash("sha256")
    .update(`${LAYER_FORMAT}\0${templateRootfs}\0${version}\0${cert}`)
    .digest("hex")
    .slice(0, 24);
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
    // Node trusts only its own roots unless told: the same CAs for it (a value set by the user wins).
    await mkdir(join(tmp, dirname(SANDBOX_CA_PROFILE_PATH)), { recursive: true, mode: 0o755 });
    await writeFile(
      join(tmp, SANDBOX_CA_PROFILE_PATH),
      `# Burrow: Node trusts the CAs in this file besides its own (the egress CA, the host's added CAs).\n[ -n "\${NODE_EXTRA_CA_CERTS:-}" ] || export NODE_EXTRA_CA_CERTS=/${SANDBOX_CA_PATH}\n`,
      { mode: 0o644 },
    );
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
