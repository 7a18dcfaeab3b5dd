import type {
  SandboxResources,
  TemplateBuildInfo,
  TemplateBuildLogEntry,
  TemplateBuildRequest,
  TemplateConfig,
  TemplateInfo,
  TemplateVersionInfo,
} from "@burrow/core";

/**
 * The template services the routes (REST `/v1/templates`, E2B's template endpoints) and the
 * sandbox service use. Implementations live beside this file; tests may use fakes of them.
 */

/** Uploaded file archives that COPY steps read, stored by the sha256 hex of their bytes. */
export interface TemplateContexts {
  has(hash: string): boolean;
  /**
   * Stores an archive (tar, optionally gzip-compressed) arriving as `body`. Rejects
   * (payload_too_large) past the size limit and (validation_failed) when `expectedHash` is given
   * and the bytes do not hash to it. Returns the hash.
   */
  put(body: AsyncIterable<Uint8Array>, expectedHash?: string, signal?: AbortSignal): Promise<string>;
}

/** What a sandbox is created from: a resolved template version. */
export interface ResolvedTemplate {
  versionId: string;
  templateName: string;
  /** Host directories of the version's layers, top first (the order overlayfs lists lowers). */
  layerDirs: string[];
  config: TemplateConfig;
  /** Host directory of the memory image of a snapshot version (its files are in `../upper`). */
  snapshotImageDir?: string;
  /** The resources a snapshot's memory image was taken with: its sandboxes get them. */
  snapshotResources?: SandboxResources;
}

export interface TemplateCatalog {
  /** `name[:tag]` or a version id → the version; template_not_found naming what exists. */
  resolve(ref: string): Promise<ResolvedTemplate>;
  /** A version by id, even one no tag points at any more (sandboxes keep their version). */
  version(versionId: string): Promise<ResolvedTemplate | undefined>;
  list(): Promise<TemplateInfo[]>;
  get(name: string): Promise<TemplateInfo | undefined>;
  /** Points `name:tag` at a version of that template. */
  tag(name: string, tag: string, versionId: string): Promise<void>;
  /** Removes a tag; false when it did not exist. */
  untag(name: string, tag: string): Promise<boolean>;
  /**
   * Deletes a template (every version) or one version; conflict (409) naming the sandboxes that
   * still use one of them. Layers no version or sandbox uses are collected afterwards.
   */
  remove(name: string, versionId?: string): Promise<boolean>;
}

export interface TemplateBuilds {
  /** Validates the request (400 on bad input) and queues the build; answers at once. */
  start(request: TemplateBuildRequest): Promise<TemplateBuildInfo>;
  get(buildId: string): Promise<TemplateBuildInfo | undefined>;
  /** Log lines from `offset` (0-based index into the build's log). */
  logs(buildId: string, offset?: number): Promise<TemplateBuildLogEntry[]>;
  /** Resolves when the build is ready or failed. */
  wait(buildId: string, signal?: AbortSignal): Promise<TemplateBuildInfo>;
  /**
   * Calls `listener` with each log line written from now on (`finished` on the build's last
   * line); returns the function that stops it. Streaming log routes use it when present.
   */
  follow?(buildId: string, listener: (entry: TemplateBuildLogEntry, finished: boolean) => void): () => void;
}

export type { TemplateVersionInfo };
