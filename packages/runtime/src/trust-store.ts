import { constants } from "node:fs";
import { lstat, mkdir, open, readFile } from "node:fs/promises";
import { join } from "node:path";

/** Where a CA is dropped in the sandbox (Debian's update-ca-certificates picks it up from there). */
export const SANDBOX_CA_PATH = "usr/local/share/ca-certificates/burrow-egress-ca.crt";
/** The bundle OpenSSL, curl and Python read by default on Debian. */
export const SANDBOX_CA_BUNDLE_PATH = "etc/ssl/certs/ca-certificates.crt";

/**
 * Whether `rel` under `root` can be written without leaving `root`: every existing component is
 * a real directory (the last one may be a regular file or missing), never a symlink. The rootfs
 * comes from templates users build, so a planted symlink must not redirect a host-side write.
 */
async function confined(root: string, rel: string): Promise<boolean> {
  const parts = rel.split("/");
  let at = root;
  for (const [i, part] of parts.entries()) {
    at = join(at, part);
    const stat = await lstat(at).catch(() => undefined);
    if (!stat) return true;
    const last = i === parts.length - 1;
    if (stat.isSymbolicLink() || (!last && !stat.isDirectory()) || (last && !stat.isFile())) return false;
  }
  return true;
}

async function writeNoFollow(path: string, text: string, flags: number): Promise<void> {
  const file = await open(path, flags | constants.O_WRONLY | constants.O_NOFOLLOW, 0o644);
  try {
    await file.writeFile(text);
  } finally {
    await file.close();
  }
}

/**
 * Installs `pem` into a sandbox's root filesystem (mounted on the host, before the sandbox
 * starts): as its own file for update-ca-certificates, and appended to the system bundle unless
 * it is there already. Returns false, writing nothing more, where a path is not confined.
 */
export async function installTrustedCa(rootfs: string, pem: string): Promise<boolean> {
  const cert = pem.endsWith("\n") ? pem : `${pem}\n`;
  if (!(await confined(rootfs, SANDBOX_CA_PATH)) || !(await confined(rootfs, SANDBOX_CA_BUNDLE_PATH))) return false;
  await mkdir(join(rootfs, "usr/local/share/ca-certificates"), { recursive: true, mode: 0o755 });
  await writeNoFollow(join(rootfs, SANDBOX_CA_PATH), cert, constants.O_CREAT | constants.O_TRUNC);
  const bundlePath = join(rootfs, SANDBOX_CA_BUNDLE_PATH);
  const bundle = await readFile(bundlePath, "utf8").catch(() => undefined);
  if (bundle === undefined) return true;
  if (!bundle.includes(cert.trim())) {
    await writeNoFollow(bundlePath, `${bundle.endsWith("\n") || bundle === "" ? "" : "\n"}${cert}`, constants.O_APPEND);
  }
  return true;
}
