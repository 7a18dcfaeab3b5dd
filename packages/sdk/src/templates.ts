/** Templates: build sandbox images from Dockerfiles, list them, move tags, delete versions. */
import {
  BurrowError,
  ErrorCode,
  type TemplateBuildInfo,
  type TemplateBuildLogEntry,
  type TemplateInfo,
  type TemplateVersionInfo,
} from "@burrow/core";
import { type ConnectionOptions, resolveConfig } from "./config.js";
import { NotFoundError } from "./errors.js";
import { ApiClient, type RequestOptions } from "./http.js";
import { tarDirectory, writeTar } from "./tar.js";

export interface TemplateApiOptions extends ConnectionOptions, RequestOptions {}

export interface TemplateBuildOptions extends TemplateApiOptions {
  /** The Dockerfile's text. */
  dockerfile: string;
  /** A directory whose files COPY/ADD read (Node only); links are stored, never followed. */
  contextDir?: string;
  /** Or the context's files by relative path. */
  files?: Record<string, string | Uint8Array>;
  buildArgs?: Record<string, string>;
  /** More tags to move to the new version besides the one in the name. */
  tags?: string[];
  /** Ignore the layer cache. */
  force?: boolean;
  /** Called with each log line as the build runs. */
  onLog?: (entry: TemplateBuildLogEntry) => void;
}

export interface TemplateImportOptions extends TemplateApiOptions {
  /** `oci` (an OCI image layout as a tar, e.g. `skopeo copy … oci-archive:x.tar`) or `docker` (`docker save`). Default oci. */
  format?: "oci" | "docker";
  /** More tags to move to the new version besides the one in the name. */
  tags?: string[];
  onLog?: (entry: TemplateBuildLogEntry) => void;
}

const templatePath = (name: string) => `/v1/templates/${encodeURIComponent(name)}`;

/** Uploads a tar archive (a build context or an image archive); resolves with its sha256. */
async function uploadArchive(
  api: ApiClient,
  body: Uint8Array,
  opts: TemplateApiOptions,
  what: string,
): Promise<string> {
  const scope = api.scope(opts, what);
  try {
    const res = await api.send(
      {
        method: "POST",
        path: "/v1/template-contexts",
        headers: { "Content-Type": "application/x-tar" },
        body: body as unknown as BodyInit,
      },
      scope,
    );
    return ((await res.json()) as { hash: string }).hash;
  } catch (err) {
    throw scope.reasonFor(err);
  } finally {
    scope.dispose();
  }
}

async function contextOf(opts: TemplateBuildOptions): Promise<Uint8Array | undefined> {
  if (opts.contextDir !== undefined) return tarDirectory(opts.contextDir);
  if (opts.files === undefined) return undefined;
  const encoder = new TextEncoder();
  const dirs = new Set<string>();
  const entries = Object.entries(opts.files)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .flatMap(([path, content]) => {
      const parts = path.split("/");
      const parents = parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join("/"));
      const newDirs = parents.filter((d) => !dirs.has(d));
      for (const d of newDirs) dirs.add(d);
      return [
        ...newDirs.map((d) => ({ path: d, type: "dir" as const, mode: 0o755 })),
        {
          path,
          type: "file" as const,
          mode: 0o644,
          data: typeof content === "string" ? encoder.encode(content) : content,
        },
      ];
    });
  return writeTar(entries);
}

/** Reads an NDJSON stream line by line. */
async function* ndjson(body: ReadableStream<Uint8Array>): AsyncGenerator<Record<string, unknown>> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    let newline = buffered.indexOf("\n");
    while (newline >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line !== "") yield JSON.parse(line) as Record<string, unknown>;
      newline = buffered.indexOf("\n");
    }
  }
  if (buffered.trim() !== "") yield JSON.parse(buffered) as Record<string, unknown>;
}

export const Templates = {
  /**
   * Builds `name[:tag]` from a Dockerfile (uploading the context first), follows its log, and
   * resolves with the finished build. A failed build throws (code template_build_failed) with
   * the step, exit code and log tail in `details`; the template's tags stay where they were.
   */
  async build(name: string, opts: TemplateBuildOptions): Promise<TemplateBuildInfo> {
    const api = new ApiClient(await resolveConfig(opts));
    const context = await contextOf(opts);
    const contextHash =
      context === undefined ? undefined : await uploadArchive(api, context, opts, "uploading the build context");
    const started = await api.json<TemplateBuildInfo>(
      {
        method: "POST",
        path: `${templatePath(name)}/builds`,
        json: {
          dockerfile: opts.dockerfile,
          ...(contextHash === undefined ? {} : { contextHash }),
          ...(opts.buildArgs ? { buildArgs: opts.buildArgs } : {}),
          ...(opts.tags ? { tags: opts.tags } : {}),
          ...(opts.force ? { force: true } : {}),
        },
      },
      opts,
      `starting the build of ${name}`,
    );
    const done = await Templates.followLogs(started.id, (entry) => opts.onLog?.(entry), opts);
    if (done.status === "error") {
      throw new BurrowError(
        ErrorCode.TemplateBuildFailed,
        `building ${name} failed: ${done.error?.message ?? "unknown"}`,
        {
          details: { build: done },
        },
      );
    }
    return done;
  },

  /**
   * Makes `name[:tag]` from an OCI or Docker image archive (its layers flattened into one layer,
   * its env, user, workdir and ports as the template's config): uploads the archive, builds from
   * it with no steps, follows the log. Throws like `build` when the import fails.
   */
  async import(name: string, archive: Uint8Array, opts: TemplateImportOptions = {}): Promise<TemplateBuildInfo> {
    const api = new ApiClient(await resolveConfig(opts));
    const hash = await uploadArchive(api, archive, opts, "uploading the image archive");
    const transport = opts.format === "docker" ? "docker-archive" : "oci-archive";
    const started = await api.json<TemplateBuildInfo>(
      {
        method: "POST",
        path: `${templatePath(name)}/builds`,
        json: { from: { image: `${transport}:${hash}` }, steps: [], ...(opts.tags ? { tags: opts.tags } : {}) },
      },
      opts,
      `importing ${name}`,
    );
    const done = await Templates.followLogs(started.id, (entry) => opts.onLog?.(entry), opts);
    if (done.status === "error") {
      throw new BurrowError(
        ErrorCode.TemplateBuildFailed,
        `importing ${name} failed: ${done.error?.message ?? "unknown"}`,
        {
          details: { build: done },
        },
      );
    }
    return done;
  },

  /** Streams a build's log from `offset` to `onLog` until the build ends; resolves with the build. */
  async followLogs(
    buildId: string,
    onLog: (entry: TemplateBuildLogEntry) => void,
    opts: TemplateApiOptions & { offset?: number } = {},
  ): Promise<TemplateBuildInfo> {
    const api = new ApiClient(await resolveConfig(opts));
    // A build runs for as long as its steps do: no request deadline here, only the caller's signal.
    const scope = api.scope({ ...opts, requestTimeoutMs: 0 }, `following build ${buildId}`);
    try {
      const res = await api.send(
        {
          method: "GET",
          path: `/v1/template-builds/${encodeURIComponent(buildId)}/logs`,
          query: { follow: 1, offset: opts.offset ?? 0 },
        },
        scope,
      );
      let build: TemplateBuildInfo | undefined;
      if (res.body) {
        for await (const line of ndjson(res.body)) {
          if ("log" in line) onLog(line.log as TemplateBuildLogEntry);
          if ("build" in line) build = line.build as TemplateBuildInfo;
        }
      }
      return build ?? (await Templates.getBuild(buildId, opts));
    } catch (err) {
      throw scope.reasonFor(err);
    } finally {
      scope.dispose();
    }
  },

  async getBuild(buildId: string, opts: TemplateApiOptions = {}): Promise<TemplateBuildInfo> {
    const api = new ApiClient(await resolveConfig(opts));
    return api.json<TemplateBuildInfo>(
      { method: "GET", path: `/v1/template-builds/${encodeURIComponent(buildId)}` },
      opts,
      `getting build ${buildId}`,
    );
  },

  async logs(buildId: string, opts: TemplateApiOptions & { offset?: number } = {}): Promise<TemplateBuildLogEntry[]> {
    const api = new ApiClient(await resolveConfig(opts));
    const res = await api.json<{ logs: TemplateBuildLogEntry[] }>(
      {
        method: "GET",
        path: `/v1/template-builds/${encodeURIComponent(buildId)}/logs`,
        query: { offset: opts.offset ?? 0 },
      },
      opts,
      `reading the log of build ${buildId}`,
    );
    return res.logs;
  },

  async list(opts: TemplateApiOptions = {}): Promise<TemplateInfo[]> {
    const api = new ApiClient(await resolveConfig(opts));
    return (
      await api.json<{ templates: TemplateInfo[] }>({ method: "GET", path: "/v1/templates" }, opts, "listing templates")
    ).templates;
  },

  async get(name: string, opts: TemplateApiOptions = {}): Promise<TemplateInfo> {
    const api = new ApiClient(await resolveConfig(opts));
    return api.json<TemplateInfo>({ method: "GET", path: templatePath(name) }, opts, `getting template ${name}`);
  },

  async getVersion(name: string, versionId: string, opts: TemplateApiOptions = {}): Promise<TemplateVersionInfo> {
    const api = new ApiClient(await resolveConfig(opts));
    return api.json<TemplateVersionInfo>(
      { method: "GET", path: `${templatePath(name)}/versions/${encodeURIComponent(versionId)}` },
      opts,
      `getting version ${versionId} of ${name}`,
    );
  },

  /**
   * Makes `name[:tag]` a snapshot template of a running sandbox: its files and memory (a full
   * checkpoint taken now, or `checkpointId`). Sandboxes created from it start with the sandbox's
   * processes already running, in a new identity (id, address, token).
   */
  async fromSandbox(
    name: string,
    sandboxId: string,
    opts: TemplateApiOptions & { checkpointId?: string } = {},
  ): Promise<TemplateVersionInfo> {
    const api = new ApiClient(await resolveConfig(opts));
    return api.json<TemplateVersionInfo>(
      {
        method: "POST",
        path: `${templatePath(name)}/from-sandbox`,
        json: { sandboxId, ...(opts.checkpointId ? { checkpointId: opts.checkpointId } : {}) },
      },
      opts,
      `making ${name} from sandbox ${sandboxId}`,
    );
  },

  /**
   * The template version `name[:tag]` (or `versionId`) as an OCI image archive, streamed: its
   * files as one layer, its env, user, workdir, ports, labels and start command as the image
   * config (what `Templates.import` and `skopeo copy oci-archive:…` read). A snapshot version
   * gives its files, not its memory. The server writes the archive before it answers, so no
   * request deadline applies unless `requestTimeoutMs` is given.
   */
  async export(
    nameAndTag: string,
    opts: TemplateApiOptions & { versionId?: string } = {},
  ): Promise<ReadableStream<Uint8Array>> {
    const api = new ApiClient(await resolveConfig(opts));
    const colon = nameAndTag.indexOf(":");
    const name = colon < 0 ? nameAndTag : nameAndTag.slice(0, colon);
    const tag = colon < 0 ? undefined : nameAndTag.slice(colon + 1);
    const scope = api.scope({ ...opts, requestTimeoutMs: opts.requestTimeoutMs ?? 0 }, `exporting ${nameAndTag}`);
    try {
      const res = await api.send(
        {
          method: "GET",
          path: `${templatePath(name)}/export`,
          query: { tag, version: opts.versionId },
        },
        scope,
      );
      if (!res.body) throw new BurrowError(ErrorCode.Internal, `exporting ${nameAndTag}: the server sent no archive`);
      return res.body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({ flush: () => scope.dispose() }));
    } catch (err) {
      const reason = scope.reasonFor(err);
      scope.dispose();
      throw reason;
    }
  },

  /** Points `name:tag` at a version of the template. */
  async tag(name: string, tag: string, versionId: string, opts: TemplateApiOptions = {}): Promise<TemplateInfo> {
    const api = new ApiClient(await resolveConfig(opts));
    return api.json<TemplateInfo>(
      { method: "PUT", path: `${templatePath(name)}/tags/${encodeURIComponent(tag)}`, json: { versionId } },
      opts,
      `tagging ${name}:${tag}`,
    );
  },

  /** Removes a tag; false when there was none. */
  async untag(name: string, tag: string, opts: TemplateApiOptions = {}): Promise<boolean> {
    return deleting(`${templatePath(name)}/tags/${encodeURIComponent(tag)}`, `removing tag ${name}:${tag}`, opts);
  },

  /**
   * Deletes a template (every version), or one version with `versionId`; false when there was
   * none. A ConflictError names the sandboxes still using a version.
   */
  async delete(name: string, opts: TemplateApiOptions & { versionId?: string } = {}): Promise<boolean> {
    const path =
      opts.versionId === undefined
        ? templatePath(name)
        : `${templatePath(name)}/versions/${encodeURIComponent(opts.versionId)}`;
    return deleting(path, `deleting template ${name}`, opts);
  },
};

async function deleting(path: string, what: string, opts: TemplateApiOptions): Promise<boolean> {
  const api = new ApiClient(await resolveConfig(opts));
  try {
    await api.empty({ method: "DELETE", path }, opts, what);
    return true;
  } catch (err) {
    if (err instanceof NotFoundError) return false;
    throw err;
  }
}
