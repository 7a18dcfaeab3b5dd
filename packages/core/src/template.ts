import type { SandboxResources } from "./sandbox.js";

/**
 * Wire types of templates: named, tagged, immutable versions of a sandbox image. A version is an
 * ordered stack of content-addressed read-only layers plus its config (env, user, workdir, start
 * and ready commands); a snapshot version also carries a memory image, so sandboxes created from
 * it start with its processes already running.
 */

/** `name` or `name:tag`; the tag defaults to `latest`. */
export interface TemplateRef {
  name: string;
  tag: string;
}

export const DEFAULT_TEMPLATE_TAG = "latest";

/** Names: lower-case letters, digits, `-`, `_`, `.`; 1–63 characters, starting with a letter or digit. */
export const TEMPLATE_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** Tags: letters, digits, `-`, `_`, `.`; 1–128 characters, starting with a letter, digit or `_`. */
export const TEMPLATE_TAG_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/** Splits `name[:tag]`; undefined when either part breaks its pattern. */
export function parseTemplateRef(ref: string): TemplateRef | undefined {
  const colon = ref.indexOf(":");
  const name = colon < 0 ? ref : ref.slice(0, colon);
  const tag = colon < 0 ? DEFAULT_TEMPLATE_TAG : ref.slice(colon + 1);
  if (!TEMPLATE_NAME_PATTERN.test(name) || !TEMPLATE_TAG_PATTERN.test(tag)) return undefined;
  return { name, tag };
}

/**
 * One build step, after parsing (a Dockerfile line or an E2B builder step). Variables (`ARG`,
 * `ENV`) are already substituted where Docker substitutes them; `RUN` sees them as environment.
 */
export type TemplateStep =
  /** Runs in a gVisor sandbox on the layers so far; `shell` via `/bin/sh -c`, `argv` directly. */
  | {
      type: "run";
      shell?: string;
      argv?: string[];
      /** Variables this step alone sees (a Dockerfile's ARGs); not kept in the image's config. */
      buildEnv?: Record<string, string>;
    }
  /**
   * Copies `sources` (paths relative to the archive's root; globs allowed) from an uploaded file
   * archive, named by its sha256 hex (`contextHash`), to `dest` in the image.
   */
  | { type: "copy"; contextHash: string; sources: string[]; dest: string; chown?: string; chmod?: string }
  | { type: "env"; vars: Record<string, string> }
  | { type: "workdir"; path: string }
  | { type: "user"; user: string }
  | { type: "label"; labels: Record<string, string> }
  | { type: "expose"; ports: number[] };

/** What a version's sandboxes start with besides the agent. */
export interface TemplateStartConfig {
  /** Started (as the template's user, in its workdir, with its env) when a sandbox is created. */
  startCmd?: string;
  /** A command that exits 0 once the start command is ready, or a TCP port that accepts. */
  readyCmd?: string;
  readyPort?: number;
  /** How long create waits for ready before failing with the command's output. Default 60 000. */
  readyTimeoutMs?: number;
}

export interface TemplateConfig extends TemplateStartConfig {
  env: Record<string, string>;
  /** User commands run as by default ("root" when unset). */
  user?: string;
  workdir?: string;
  labels: Record<string, string>;
  exposedPorts: number[];
}

/**
 * What a build starts from: a Burrow template (`base`, `name:tag`) or an OCI image:
 * `oci-archive:/path`, `docker-archive:/path` (files on the server's host), or a registry
 * reference when the host can reach one.
 */
export type TemplateBase = { template: string } | { image: string };

export interface TemplateBuildRequest {
  /** `name` or `name:tag`. */
  name: string;
  /** Extra tags that move to the new version too. */
  tags?: string[];
  from: TemplateBase;
  steps: TemplateStep[];
  start?: TemplateStartConfig;
  /** Values for `ARG`s; already applied to `steps` by the parser. Part of every step's cache key. */
  buildArgs?: Record<string, string>;
  /** Ignore the layer cache for every step. */
  force?: boolean;
}

export type TemplateBuildStatus = "waiting" | "building" | "ready" | "error";

export interface TemplateBuildLogEntry {
  /** ISO time. */
  at: string;
  level: "info" | "warn" | "error";
  message: string;
  /** 1-based step index, when the line belongs to a step. */
  step?: number;
}

export interface TemplateBuildInfo {
  /** "bld_" + 20 characters. */
  id: string;
  templateName: string;
  /** The version this build makes ("tv_" + 20 characters); current only once ready. */
  versionId: string;
  status: TemplateBuildStatus;
  /** Steps that make layers (RUN, COPY) and how many are done; cache hits count as done. */
  stepsTotal: number;
  stepsDone: number;
  cacheHits: number;
  error?: { message: string; step?: number; exitCode?: number; logTail?: string };
  startedAt: string;
  finishedAt?: string;
}

export interface TemplateVersionInfo {
  id: string;
  templateName: string;
  /** Tags that point at this version now. */
  tags: string[];
  /** Layer digests, bottom first. */
  layers: string[];
  config: TemplateConfig;
  /** Set for snapshot versions: sandboxes restore this memory image (processes running). */
  snapshot?: {
    sourceSandboxId: string;
    sourceCheckpointId?: string;
    memoryBytes: number;
    /** What the memory image was taken with; sandboxes made from it get the same. */
    resources?: SandboxResources;
  };
  sizeBytes: number;
  createdAt: string;
}

export interface TemplateInfo {
  name: string;
  /** Tag → version id. */
  tags: Record<string, string>;
  versions: TemplateVersionInfo[];
  createdAt: string;
  updatedAt: string;
}
