import { createHash } from "node:crypto";
import {
  BurrowError,
  DEFAULT_TEMPLATE_TAG,
  ErrorCode,
  parseTemplateRef,
  TEMPLATE_TAG_PATTERN,
  type TemplateBuildRequest,
  type TemplateConfig,
  type TemplateStep,
} from "@burrow/core";
import { MAX_TEMPLATE_LAYERS } from "./catalog.js";
import type { ResolvedTemplate } from "./contract.js";
import type { ContextEntry } from "./tar-index.js";
import { entriesUnder, matchSources } from "./tar-index.js";

/** A checked build: the template's name and tags, the base version, and each step's inputs. */
export interface BuildPlan {
  name: string;
  tags: string[];
  base: ResolvedTemplate;
  steps: PlannedStep[];
  /** Steps that make layers. */
  layerSteps: number;
  buildArgs: Record<string, string>;
  force: boolean;
  request: TemplateBuildRequest;
}

export interface PlannedStep {
  step: TemplateStep;
  /** COPY: the matched top-level paths per source (undefined: the whole context). */
  copySources?: (string[] | undefined)[];
  /** COPY: what the copied files are (path, type, mode, content hash): part of the cache key. */
  copyFiles?: [string, string, number, string][];
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const CHOWN = /^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$/;
const CHMOD = /^[0-7]{3,4}$/;

export function invalid(field: string, message: string, extra: Record<string, unknown> = {}): BurrowError {
  return new BurrowError(ErrorCode.ValidationFailed, message, { details: { field, ...extra } });
}

/** Whether a step makes a layer (RUN, COPY) or only changes the config. */
export function makesLayer(step: TemplateStep): boolean {
  return step.type === "run" || step.type === "copy";
}

/** One line describing a step, for logs. */
export function describeStep(step: TemplateStep): string {
  switch (step.type) {
    case "run":
      return `RUN ${step.shell ?? JSON.stringify(step.argv ?? [])}`;
    case "copy":
      return `COPY ${[...(step.chown ? [`--chown=${step.chown}`] : []), ...(step.chmod ? [`--chmod=${step.chmod}`] : []), ...step.sources, step.dest].join(" ")}`;
    case "env":
      return `ENV ${Object.entries(step.vars)
        .map(([k, v]) => `${k}=${v}`)
        .join(" ")}`;
    case "workdir":
      return `WORKDIR ${step.path}`;
    case "user":
      return `USER ${step.user}`;
    case "label":
      return `LABEL ${Object.keys(step.labels).join(" ")}`;
    case "expose":
      return `EXPOSE ${step.ports.join(" ")}`;
  }
}

function checkStep(step: TemplateStep, index: number, contextEntries: (hash: string) => ContextEntry[]): PlannedStep {
  const field = `steps.${index}`;
  switch (step.type) {
    case "run": {
      const shell = step.shell !== undefined && step.shell.trim() !== "";
      const argv = step.argv !== undefined && step.argv.length > 0;
      if (shell === argv) throw invalid(field, `step ${index + 1}: RUN needs a shell command or an argv (one of them)`);
      for (const name of Object.keys(step.buildEnv ?? {})) {
        if (!ENV_NAME.test(name)) throw invalid(field, `step ${index + 1}: '${name}' is not a variable name`);
      }
      return { step };
    }
    case "copy": {
      if (step.dest.trim() === "") throw invalid(field, `step ${index + 1}: COPY needs a destination`);
      if (step.sources.length === 0) throw invalid(field, `step ${index + 1}: COPY needs a source`);
      if (step.chown !== undefined && !CHOWN.test(step.chown)) {
        throw invalid(field, `step ${index + 1}: --chown=${step.chown} is not user[:group]`);
      }
      if (step.chmod !== undefined && !CHMOD.test(step.chmod)) {
        throw invalid(field, `step ${index + 1}: --chmod=${step.chmod} is not an octal mode`);
      }
      const entries = contextEntries(step.contextHash);
      const copySources = step.sources.map((s) => matchSources(entries, s));
      const files = new Map<string, ContextEntry>();
      for (const matched of copySources) for (const e of entriesUnder(entries, matched)) files.set(e.path, e);
      const copyFiles = [...files.values()]
        .sort((a, b) => (a.path < b.path ? -1 : 1))
        .map((e): [string, string, number, string] => [e.path, e.type, e.mode, e.sha256 ?? e.link ?? ""]);
      return { step, copySources, copyFiles };
    }
    case "env":
      for (const name of Object.keys(step.vars)) {
        if (!ENV_NAME.test(name)) throw invalid(field, `step ${index + 1}: '${name}' is not a variable name`);
      }
      return { step };
    case "workdir":
      if (!step.path.startsWith("/")) throw invalid(field, `step ${index + 1}: WORKDIR must be an absolute path`);
      return { step };
    case "user":
      if (!CHOWN.test(step.user)) throw invalid(field, `step ${index + 1}: USER ${step.user} is not user[:group]`);
      return { step };
    case "label":
      return { step };
    case "expose":
      for (const p of step.ports) {
        if (!Number.isInteger(p) || p < 1 || p > 65535) throw invalid(field, `step ${index + 1}: ${p} is not a port`);
      }
      return { step };
  }
}

/**
 * Checks a build request and resolves what it starts from. Bad names, tags, steps, missing
 * contexts or COPY sources, an unknown base, and stacks deeper than the mount allows are 400s.
 */
export async function planBuild(
  request: TemplateBuildRequest,
  resolveBase: (ref: string) => Promise<ResolvedTemplate>,
  contextEntries: (hash: string) => ContextEntry[],
): Promise<BuildPlan> {
  const ref = parseTemplateRef(request.name);
  if (!ref) {
    throw invalid("name", `'${request.name}' is not a valid name[:tag] (names: a-z, 0-9, '.', '_', '-'; ≤ 63)`);
  }
  const tags = [ref.tag];
  for (const tag of request.tags ?? []) {
    if (!TEMPLATE_TAG_PATTERN.test(tag)) throw invalid("tags", `tag '${tag}' has characters a tag cannot have`);
    if (!tags.includes(tag)) tags.push(tag);
  }
  const buildArgs = request.buildArgs ?? {};
  let base: ResolvedTemplate;
  if ("template" in request.from) {
    try {
      base = await resolveBase(request.from.template);
    } catch (err) {
      if (err instanceof BurrowError && err.code === ErrorCode.TemplateNotFound) {
        throw invalid("from", `unknown base template '${request.from.template}': ${err.message}`);
      }
      throw err;
    }
  } else {
    base = await resolveBase(request.from.image);
  }
  const steps = request.steps.map((s, i) => checkStep(s, i, contextEntries));
  const layerSteps = steps.filter((s) => makesLayer(s.step)).length;
  if (base.layerDirs.length + layerSteps > MAX_TEMPLATE_LAYERS) {
    throw invalid(
      "steps",
      `the template would stack ${base.layerDirs.length + layerSteps} layers; at most ${MAX_TEMPLATE_LAYERS} (merge RUN steps)`,
    );
  }
  return { name: ref.name, tags, base, steps, layerSteps, buildArgs, force: request.force === true, request };
}

/** The tag a request names (for logs). */
export function tagOf(request: TemplateBuildRequest): string {
  return parseTemplateRef(request.name)?.tag ?? DEFAULT_TEMPLATE_TAG;
}

/**
 * A layer's cache key: the parent stack, the step (for COPY, the copied files' hashes instead of
 * the archive's), the env, user and workdir at that point, and the build args.
 */
export function cacheKey(
  parent: string,
  planned: PlannedStep,
  config: TemplateConfig,
  buildArgs: Record<string, string>,
) {
  const { step } = planned;
  const stepPart =
    step.type === "copy"
      ? {
          type: "copy",
          sources: step.sources,
          dest: step.dest,
          chown: step.chown,
          chmod: step.chmod,
          files: planned.copyFiles,
        }
      : step;
  const sorted = (o: Record<string, string>) =>
    Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
  return createHash("sha256")
    .update(
      JSON.stringify({
        parent,
        step: stepPart,
        env: sorted(config.env),
        user: config.user ?? null,
        workdir: config.workdir ?? null,
        buildArgs: sorted(buildArgs),
      }),
    )
    .digest("hex");
}

/** The cache key of a base version's stack. */
export function stackKey(layerDigests: string[]): string {
  return createHash("sha256").update(layerDigests.join("\n")).digest("hex");
}
