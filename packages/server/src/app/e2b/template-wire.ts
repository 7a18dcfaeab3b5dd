import {
  BurrowError,
  ErrorCode,
  parseTemplateRef,
  type TemplateBase,
  type TemplateBuildInfo,
  type TemplateBuildLogEntry,
  type TemplateStartConfig,
  type TemplateStep,
} from "@burrow/core";
import { z } from "zod";

/** E2B's template wire format (`POST /v3/templates`, `POST /v2/templates/{id}/builds/{id}`, status). */

export const E2bBuildRequestSchema = z
  .object({
    name: z.string().optional(),
    alias: z.string().optional(),
    tags: z.array(z.string()).optional(),
    teamID: z.string().optional(),
    cpuCount: z.number().optional(),
    memoryMB: z.number().optional(),
    minFreeDiskMb: z.number().optional(),
  })
  .passthrough();

const E2bStepSchema = z
  .object({
    type: z.string(),
    args: z.array(z.string()).optional(),
    filesHash: z.string().optional(),
    force: z.boolean().optional(),
  })
  .passthrough();

export const E2bBuildStartSchema = z
  .object({
    fromTemplate: z.string().optional(),
    fromImage: z.string().optional(),
    fromImageRegistry: z.unknown().optional(),
    startCmd: z.string().optional(),
    readyCmd: z.string().optional(),
    steps: z.array(E2bStepSchema).optional(),
    force: z.boolean().optional(),
  })
  .passthrough();

export type E2bBuildStart = z.infer<typeof E2bBuildStartSchema>;

export interface E2bLogEntry {
  timestamp: string;
  level: "debug" | "info" | "warn" | "error";
  message: string;
  step?: string;
}

export interface E2bBuildStatus {
  buildID: string;
  templateID: string;
  status: "building" | "waiting" | "ready" | "error";
  logEntries: E2bLogEntry[];
  logs: string[];
  reason?: { message: string; step?: string; logEntries?: E2bLogEntry[] };
}

function invalid(message: string, details: Record<string, unknown> = {}): BurrowError {
  return new BurrowError(ErrorCode.ValidationFailed, message, { details });
}

/** `name[:tag]` of `POST /v3/templates` → Burrow's template name and the tags the build moves. */
export function parseE2bTemplateName(body: z.infer<typeof E2bBuildRequestSchema>): { name: string; tags: string[] } {
  const raw = body.name ?? body.alias;
  if (raw === undefined || raw === "") throw invalid("name is required (name or name:tag)", { field: "name" });
  const ref = parseTemplateRef(raw);
  if (!ref) {
    throw invalid(
      `template name '${raw}' is not valid on Burrow: lower-case letters, digits, '-', '_', '.' (up to 63), optionally ':tag'`,
      { field: "name" },
    );
  }
  const tags = [ref.tag];
  for (const tag of body.tags ?? []) {
    if (!parseTemplateRef(`x:${tag}`)) throw invalid(`tag '${tag}' is not valid`, { field: "tags" });
    if (!tags.includes(tag)) tags.push(tag);
  }
  return { name: ref.name, tags };
}

/**
 * E2B image names this host serves from its own templates: the SDK's default `e2bdev/base` and
 * Debian 12 (`fromDebianImage()`, `debian:stable`/`bookworm`/`12`, `-slim` too) are Burrow's
 * `base` (Debian 12 with the usual tools). Any other image is pulled as a registry reference,
 * which works only when the host can reach that registry.
 */
const BASE_IMAGES =
  /^(docker\.io\/)?(e2bdev\/base(:latest)?|(library\/)?debian(:(latest|stable|bookworm|12)(-slim)?)?)$/;

export function e2bBase(body: E2bBuildStart): TemplateBase {
  if (body.fromTemplate !== undefined && body.fromImage !== undefined) {
    throw invalid("give fromTemplate or fromImage, not both", { field: "fromTemplate" });
  }
  if (body.fromImageRegistry !== undefined) {
    throw invalid("registry credentials (fromImageRegistry) are not supported by Burrow", {
      field: "fromImageRegistry",
    });
  }
  if (body.fromTemplate !== undefined) return { template: body.fromTemplate };
  const image = body.fromImage ?? "e2bdev/base";
  return BASE_IMAGES.test(image) ? { template: "base" } : { image };
}

export interface TranslatedSteps {
  steps: TemplateStep[];
  /** For each step, the 1-based index of the E2B step it came from (the SDK's stack-trace index). */
  origins: number[];
  /** Whether any step asked to skip the cache. */
  force: boolean;
  start?: TemplateStartConfig;
}

/**
 * E2B steps → Burrow steps. A RUN naming a user runs as that user and leaves the image's user as
 * it was; COPY names its files by the SDK's hash, which `contextOf` maps to an uploaded archive.
 */
export function translateE2bSteps(
  body: E2bBuildStart,
  baseUser: string,
  contextOf: (filesHash: string) => string | undefined,
): TranslatedSteps {
  const steps: TemplateStep[] = [];
  const origins: number[] = [];
  let user = baseUser;
  let force = body.force === true;
  const push = (origin: number, ...more: TemplateStep[]) => {
    for (const s of more) {
      steps.push(s);
      origins.push(origin);
    }
  };
  for (const [i, step] of (body.steps ?? []).entries()) {
    const n = i + 1;
    const args = step.args ?? [];
    const where = `steps.${i}`;
    if (step.force) force = true;
    switch (step.type) {
      case "RUN": {
        const [shell, runAs] = args;
        if (shell === undefined || shell.trim() === "")
          throw invalid(`${where}: RUN needs a command`, { field: where });
        if (runAs && runAs !== user)
          push(n, { type: "user", user: runAs }, { type: "run", shell }, { type: "user", user });
        else push(n, { type: "run", shell });
        break;
      }
      case "COPY": {
        const [src, dest, owner, mode] = args;
        if (!src || !dest) throw invalid(`${where}: COPY needs a source and a destination`, { field: where });
        const hash = step.filesHash;
        const contextHash = hash === undefined ? undefined : contextOf(hash);
        if (contextHash === undefined) {
          throw invalid(
            `${where}: the files of COPY ${src} were not uploaded (GET /templates/{id}/files/{hash} first)`,
            {
              field: where,
              filesHash: hash,
            },
          );
        }
        push(n, {
          type: "copy",
          contextHash,
          sources: [src],
          dest,
          ...(owner ? { chown: owner } : {}),
          ...(mode ? { chmod: mode } : {}),
        });
        break;
      }
      case "ENV": {
        if (args.length % 2 !== 0) throw invalid(`${where}: ENV needs name/value pairs`, { field: where });
        const vars: Record<string, string> = {};
        for (let k = 0; k < args.length; k += 2) vars[args[k] ?? ""] = args[k + 1] ?? "";
        push(n, { type: "env", vars });
        break;
      }
      case "WORKDIR": {
        const [path] = args;
        if (!path) throw invalid(`${where}: WORKDIR needs a path`, { field: where });
        push(n, { type: "workdir", path });
        break;
      }
      case "USER": {
        const [name] = args;
        if (!name) throw invalid(`${where}: USER needs a user`, { field: where });
        user = name;
        push(n, { type: "user", user: name });
        break;
      }
      default:
        throw invalid(`${where}: the E2B step type '${step.type}' is not supported by Burrow`, { field: where });
    }
  }
  const result: TranslatedSteps = { steps, origins, force };
  if (body.startCmd || body.readyCmd) {
    result.start = {
      ...(body.startCmd ? { startCmd: body.startCmd } : {}),
      ...(body.readyCmd ? { readyCmd: body.readyCmd } : {}),
    };
  }
  return result;
}

export function toE2bLogEntry(entry: TemplateBuildLogEntry, origins: number[]): E2bLogEntry {
  const out: E2bLogEntry = { timestamp: entry.at, level: entry.level, message: entry.message };
  if (entry.step !== undefined) out.step = String(origins[entry.step - 1] ?? entry.step);
  return out;
}

/** A Burrow build (or none yet: requested, not started) as E2B's build status. */
export function toE2bBuildStatus(
  ids: { buildID: string; templateID: string },
  build: TemplateBuildInfo | undefined,
  logs: TemplateBuildLogEntry[],
  origins: number[],
): E2bBuildStatus {
  const logEntries = logs.map((l) => toE2bLogEntry(l, origins));
  const status: E2bBuildStatus = {
    ...ids,
    status: build?.status ?? "waiting",
    logEntries,
    logs: logEntries.map((l) => `[${l.timestamp}] ${l.message}`),
  };
  if (build?.status === "error" && build.error) {
    const { message, step, logTail } = build.error;
    status.reason = { message: logTail ? `${message}:\n${logTail}` : message };
    if (step !== undefined) status.reason.step = String(origins[step - 1] ?? step);
  }
  return status;
}
