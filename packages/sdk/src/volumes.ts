/** Volumes: named storage that outlives sandboxes, mounted into several at once. */
import type { ListVolumesResponse, VolumeEntry, VolumeInfo } from "@burrow/core";
import { type ConnectionOptions, resolveConfig } from "./config.js";
import { NotFoundError } from "./errors.js";
import { ApiClient, type RequestOptions } from "./http.js";

export interface VolumeApiOptions extends ConnectionOptions, RequestOptions {}

export interface VolumeCreateOptions extends VolumeApiOptions {
  /** The size limit in bytes (writes past it fail with ENOSPC); default 10 GiB. */
  sizeBytes?: number;
}

const volumePath = (idOrName: string, rest = "") => `/v1/volumes/${encodeURIComponent(idOrName)}${rest}`;

/**
 * Volumes of the server. Mount one with `Sandbox.create({ volumes: [{ name, path, readOnly }] })`;
 * its files are reachable here without any sandbox running.
 */
export const Volumes = {
  /** Creates a volume; a ConflictError when the name is taken. */
  async create(name: string, opts: VolumeCreateOptions = {}): Promise<VolumeInfo> {
    const api = new ApiClient(await resolveConfig(opts));
    return api.json<VolumeInfo>(
      {
        method: "POST",
        path: "/v1/volumes",
        json: { name, ...(opts.sizeBytes === undefined ? {} : { sizeBytes: opts.sizeBytes }) },
      },
      opts,
      `creating volume ${name}`,
    );
  },

  async list(opts: VolumeApiOptions = {}): Promise<VolumeInfo[]> {
    const api = new ApiClient(await resolveConfig(opts));
    return (await api.json<ListVolumesResponse>({ method: "GET", path: "/v1/volumes" }, opts, "listing volumes"))
      .volumes;
  },

  /** A volume by id or name: size, bytes used, the sandboxes mounting it. */
  async get(idOrName: string, opts: VolumeApiOptions = {}): Promise<VolumeInfo> {
    const api = new ApiClient(await resolveConfig(opts));
    return api.json<VolumeInfo>({ method: "GET", path: volumePath(idOrName) }, opts, `getting volume ${idOrName}`);
  },

  /** Deletes a volume and its files; false when there was none, a ConflictError while a sandbox mounts it. */
  async delete(idOrName: string, opts: VolumeApiOptions = {}): Promise<boolean> {
    const api = new ApiClient(await resolveConfig(opts));
    try {
      await api.empty({ method: "DELETE", path: volumePath(idOrName) }, opts, `deleting volume ${idOrName}`);
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  },

  /** Entries below a folder of the volume (`depth` levels; links are listed, never followed). */
  async listFiles(
    idOrName: string,
    path = "/",
    opts: VolumeApiOptions & { depth?: number } = {},
  ): Promise<VolumeEntry[]> {
    const api = new ApiClient(await resolveConfig(opts));
    const res = await api.json<{ entries: VolumeEntry[] }>(
      { method: "GET", path: volumePath(idOrName, "/dir"), query: { path, depth: opts.depth }, subject: "file" },
      opts,
      `listing ${path} on volume ${idOrName}`,
    );
    return res.entries;
  },

  async stat(idOrName: string, path: string, opts: VolumeApiOptions = {}): Promise<VolumeEntry> {
    const api = new ApiClient(await resolveConfig(opts));
    return api.json<VolumeEntry>(
      { method: "GET", path: volumePath(idOrName, "/path"), query: { path }, subject: "file" },
      opts,
      `reading ${path} on volume ${idOrName}`,
    );
  },

  /** Makes a folder (and the folders above it). */
  async makeDir(idOrName: string, path: string, opts: VolumeApiOptions = {}): Promise<VolumeEntry> {
    const api = new ApiClient(await resolveConfig(opts));
    return api.json<VolumeEntry>(
      { method: "POST", path: volumePath(idOrName, "/dir"), query: { path, parents: true }, subject: "file" },
      opts,
      `making ${path} on volume ${idOrName}`,
    );
  },

  /** Writes a file (replacing it; missing folders above it are made). */
  async write(
    idOrName: string,
    path: string,
    data: string | Uint8Array | ReadableStream<Uint8Array>,
    opts: VolumeApiOptions & { mode?: number } = {},
  ): Promise<VolumeEntry> {
    const api = new ApiClient(await resolveConfig(opts));
    const streamed = typeof data !== "string" && !(data instanceof Uint8Array);
    return api.json<VolumeEntry>(
      {
        method: "PUT",
        path: volumePath(idOrName, "/file"),
        query: { path, mode: opts.mode },
        headers: { "Content-Type": "application/octet-stream" },
        body: data as BodyInit,
        streamBody: streamed,
        subject: "file",
      },
      opts,
      `writing ${path} on volume ${idOrName}`,
    );
  },

  /** Reads a file's bytes. */
  async read(idOrName: string, path: string, opts: VolumeApiOptions = {}): Promise<Uint8Array> {
    const api = new ApiClient(await resolveConfig(opts));
    const scope = api.scope(opts, `reading ${path} on volume ${idOrName}`);
    try {
      const res = await api.send(
        { method: "GET", path: volumePath(idOrName, "/file"), query: { path }, subject: "file" },
        scope,
      );
      return new Uint8Array(await res.arrayBuffer());
    } catch (err) {
      throw scope.reasonFor(err);
    } finally {
      scope.dispose();
    }
  },

  /** Removes a file, a link, or a folder with everything in it. */
  async remove(idOrName: string, path: string, opts: VolumeApiOptions = {}): Promise<void> {
    const api = new ApiClient(await resolveConfig(opts));
    await api.empty(
      { method: "DELETE", path: volumePath(idOrName, "/path"), query: { path }, subject: "file" },
      opts,
      `removing ${path} on volume ${idOrName}`,
    );
  },
};
