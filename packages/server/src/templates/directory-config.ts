import type { Logger, TemplateConfig } from "@burrow/core";

/**
 * The `config` object of a template directory's template.json (written by the setup scripts,
 * e.g. the code-interpreter template names its start command and ready port there). Fields of
 * the wrong type are left out and logged; a manifest without `config` gives the empty config.
 */
export function directoryConfig(manifest: string, logger: Logger, name: string): TemplateConfig {
  const config: TemplateConfig = { env: {}, labels: {}, exposedPorts: [] };
  let raw: unknown;
  try {
    raw = manifest === "" ? undefined : (JSON.parse(manifest) as { config?: unknown }).config;
  } catch {
    logger.warn({ template: name }, "template.json is not JSON; the directory gets an empty config");
    return config;
  }
  if (!isRecord(raw)) return config;
  const skipped: string[] = [];
  for (const key of ["user", "workdir", "startCmd", "readyCmd"] as const) {
    const v = raw[key];
    if (v === undefined) continue;
    if (typeof v === "string" && v !== "") config[key] = v;
    else skipped.push(key);
  }
  for (const key of ["readyPort", "readyTimeoutMs"] as const) {
    const v = raw[key];
    if (v === undefined) continue;
    if (typeof v === "number" && Number.isInteger(v) && v > 0) config[key] = v;
    else skipped.push(key);
  }
  for (const key of ["env", "labels"] as const) {
    const v = raw[key];
    if (v === undefined) continue;
    if (isRecord(v) && Object.values(v).every((x) => typeof x === "string")) {
      config[key] = v as Record<string, string>;
    } else skipped.push(key);
  }
  const ports = raw.exposedPorts;
  if (Array.isArray(ports) && ports.every((p) => typeof p === "number" && Number.isInteger(p))) {
    config.exposedPorts = ports as number[];
  } else if (ports !== undefined) skipped.push("exposedPorts");
  if (skipped.length > 0)
    logger.warn({ template: name, skipped }, "template.json config fields of the wrong type left out");
  return config;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
