import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { BurrowError, ErrorCode } from "@burrow/core";

/** Templates are directories `<templatesDir>/<name>/rootfs` built by the setup scripts. */
export class Templates {
  constructor(private readonly templatesDir: string) {}

  available(): string[] {
    try {
      return readdirSync(this.templatesDir, { withFileTypes: true })
        .filter((d) => d.isDirectory() && !d.name.startsWith(".") && existsSync(this.rootfs(d.name)))
        .map((d) => d.name)
        .sort();
    } catch {
      return [];
    }
  }

  rootfs(name: string): string {
    return join(this.templatesDir, name, "rootfs");
  }

  /** The template's rootfs path, or template_not_found naming the ones that exist. */
  resolve(name: string): string {
    const path = this.rootfs(name);
    if (existsSync(path)) return path;
    const available = this.available();
    throw new BurrowError(
      ErrorCode.TemplateNotFound,
      `template '${name}' not found; available: ${available.length ? available.join(", ") : "none (run npm start to build 'base')"}`,
      { details: { template: name, available } },
    );
  }
}
