import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "@burrow/core";

/** Debian's directory for CAs an administrator adds to the host's trust store. */
export const DEFAULT_HOST_CA_DIR = "/usr/local/share/ca-certificates";

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * The certificates the host's administrator added to its trust store (`*.crt` below `dir`, as
 * update-ca-certificates reads them), one PEM block each, in a stable order. A host whose
 * outbound HTTPS passes an inspecting proxy trusts that proxy's CA this way; sandboxes and the
 * egress proxies must trust it too or every HTTPS fetch fails. A missing directory is no CA.
 */
export async function readHostCas(dir: string, logger: Logger): Promise<string[]> {
  const files: string[] = [];
  const walk = async (path: string, depth: number): Promise<void> => {
    let entries: import("node:fs").Dirent[];
    try {
      entries = await readdir(path, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const child = join(path, e.name);
      if (e.isDirectory() && depth < 4) await walk(child, depth + 1);
      else if (e.name.endsWith(".crt") && (e.isFile() || e.isSymbolicLink())) files.push(child);
    }
  };
  await walk(dir, 0);
  const pems: string[] = [];
  for (const file of files) {
    const text = await readFile(file, "utf8").catch(() => "");
    const found = text.match(PEM_CERT) ?? [];
    if (found.length === 0) logger.warn({ file }, "no PEM certificate in a host CA file; left out");
    for (const pem of found) if (!pems.includes(pem)) pems.push(pem);
  }
  return pems;
}
