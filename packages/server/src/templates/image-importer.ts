import { createHash } from "node:crypto";
import { BlockList, isIPv4 } from "node:net";
import { BurrowError, ErrorCode, PRIVATE_RANGES, type TemplateConfig } from "@burrow/core";
import { type ImageSource, removeTree, unpackImage } from "@burrow/runtime";
import type { Catalog } from "./catalog.js";
import type { ContextStore } from "./contexts.js";
import type { ResolvedTemplate } from "./contract.js";
import type { LayerStore } from "./layer-store.js";

export interface ImageImporterDeps {
  layers: LayerStore;
  contexts: ContextStore;
  catalog: Catalog;
}

/**
 * `FROM <image>`: an OCI or Docker archive the caller uploaded (`oci-archive:<sha256>`,
 * `docker-archive:<sha256>`, the hash an upload to /v1/template-contexts answered), or a registry
 * reference (`docker://name:tag`, or any `host/name:tag`) the host must be able to reach. Paths
 * on the server's host are not accepted: an API caller never names a host file.
 */
export function imageSource(ref: string, contexts: ContextStore): ImageSource {
  const archive = /^(oci-archive|docker-archive):(.*)$/.exec(ref);
  if (archive) {
    const [, transport, hash = ""] = archive;
    if (!/^[0-9a-f]{64}$/.test(hash)) {
      throw invalid(
        `FROM ${ref}: name an uploaded archive by its sha256 (upload it to /v1/template-contexts first; the CLI's 'template import' does)`,
      );
    }
    if (!contexts.has(hash)) throw invalid(`FROM ${ref}: no uploaded archive has that sha256`);
    return { transport: transport as "oci-archive" | "docker-archive", path: contexts.tarPath(hash) };
  }
  const reference = ref.replace(/^docker:\/\//, "");
  if (!/^[a-z0-9][a-z0-9._\-/:@]*$/i.test(reference) || reference.includes("..")) {
    throw invalid(`FROM ${ref}: not an image reference`);
  }
  const host = registryHost(reference);
  if (host !== undefined && (host === "localhost" || (isIPv4(host) && HOST_LOCAL.check(host, "ipv4")))) {
    throw invalid(
      `FROM ${ref}: the server pulls images itself and does not reach ${host} (loopback, link-local or private)`,
    );
  }
  return { transport: "docker", reference };
}

/** Addresses the server's own pulls never go to: its loopback, link-local (metadata) and private networks. */
const HOST_LOCAL = new BlockList();
for (const cidr of ["0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", ...PRIVATE_RANGES]) {
  const [address = "", prefix = "32"] = cidr.split("/");
  HOST_LOCAL.addSubnet(address, Number(prefix), "ipv4");
}

/** The registry a reference names (its first component, when that looks like a host), without a port. */
function registryHost(reference: string): string | undefined {
  const slash = reference.indexOf("/");
  if (slash < 0) return undefined;
  const first = reference.slice(0, slash);
  if (!first.includes(".") && !first.includes(":") && first !== "localhost") return undefined;
  return first.replace(/:\d+$/, "").toLowerCase();
}

function invalid(message: string): BurrowError {
  return new BurrowError(ErrorCode.ValidationFailed, message, { details: { field: "from" } });
}

/**
 * Turns an image into one layer (its layers flattened, keyed by its manifest digest, so the same
 * image is unpacked once) and an untagged version of `templateName` holding it with the image's
 * config (env, user, workdir, ports, labels). The image's Entrypoint and Cmd are not run: a
 * template's start command is named explicitly (Dockerfile `CMD`, or `start`).
 */
export class ImageImporter {
  constructor(private readonly deps: ImageImporterDeps) {}

  async import(ref: string, templateName: string): Promise<ResolvedTemplate> {
    const source = imageSource(ref, this.deps.contexts);
    const work = await this.deps.layers.tempPath("image-work");
    const rootfs = await this.deps.layers.tempPath("image");
    try {
      const image = await unpackImage(source, work, rootfs);
      const digest = createHash("sha256").update(`image\0${image.manifestDigest}`).digest("hex");
      const release = this.deps.layers.pin(digest);
      try {
        if (await this.deps.layers.has(digest)) await removeTree(rootfs);
        else await this.deps.layers.commit(digest, rootfs, 0);
        const config: TemplateConfig = {
          env: image.config.env,
          labels: image.config.labels,
          exposedPorts: image.config.exposedPorts,
          ...(image.config.user ? { user: image.config.user } : {}),
          ...(image.config.workdir ? { workdir: image.config.workdir } : {}),
        };
        // The same image again reuses its version, so steps on top of it hit the layer cache.
        const known = (await this.deps.catalog.get(templateName))?.versions.find(
          (v) => v.layers.length === 1 && v.layers[0] === digest,
        );
        const versionId =
          known?.id ?? (await this.deps.catalog.addVersion(templateName, [digest], config, { source: ref })).id;
        const resolved = await this.deps.catalog.version(versionId);
        if (!resolved) throw new BurrowError(ErrorCode.Internal, `imported image ${ref} has no layer on disk`);
        return resolved;
      } finally {
        release();
      }
    } finally {
      await removeTree(work);
      await removeTree(rootfs);
    }
  }
}
