import { createReadStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import type { TemplateExporter } from "../templates/exporter.js";
import type { Router } from "./router.js";

/**
 * `GET /v1/templates/{name}/export[?tag=T | ?version=tv_…]`: the version as an OCI archive
 * (`application/x-tar`, what `burrow template import` and `skopeo … oci-archive:` read). The
 * archive is written first, then sent with its length; it is removed once sent or abandoned.
 */
export function registerExportRoute(router: Router, exporter: TemplateExporter): void {
  router.add("GET", "/v1/templates/:name/export", async ({ req, res, params, url }) => {
    const name = params.name ?? "";
    const tag = url.searchParams.get("tag") || undefined;
    const versionId = url.searchParams.get("version") || undefined;
    const archive = await exporter.export(name, {
      ...(tag === undefined ? {} : { tag }),
      ...(versionId === undefined ? {} : { versionId }),
    });
    try {
      if (req.destroyed) return;
      const file = `${name}-${versionId ?? tag ?? "latest"}.tar`.replace(/[^A-Za-z0-9._-]/g, "_");
      res.writeHead(200, {
        "Content-Type": "application/x-tar",
        "Content-Length": String(archive.sizeBytes),
        "Content-Disposition": `attachment; filename="${file}"`,
        "X-Burrow-Template-Version": archive.versionId,
      });
      await pipeline(createReadStream(archive.path), res).catch(() => res.destroy());
    } finally {
      await archive.release();
    }
  });
}
