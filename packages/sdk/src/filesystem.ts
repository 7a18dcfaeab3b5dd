/** `sandbox.files`: read, write and inspect files in a sandbox. */
import {
  ErrorCode,
  FILES_PATH,
  type FilesUploadEntry,
  FilesystemMethod,
  type FsEntryResponse,
  type FsListDirResponse,
} from "@burrow/core";
import { type EntryInfo, toEntryInfo, toFileType, type WriteInfo } from "./entry.js";
import type { EnvdClient, UserRequestOptions } from "./envd.js";
import { InvalidArgumentError, rpcCodeOf, UnavailableError } from "./errors.js";
import { OperationScope } from "./signals.js";
import { isNodeRuntime, readFileBody, toUploadBody, type WriteData } from "./upload.js";
import { type FilesystemEvent, WatchHandle } from "./watch-handle.js";

export type { WriteData } from "./upload.js";

export interface WriteEntry {
  path: string;
  data: WriteData;
}

export type ReadFormat = "text" | "bytes" | "blob" | "stream";

export interface ReadOptions<F extends ReadFormat = ReadFormat> extends UserRequestOptions {
  /** Default "text" (UTF-8). */
  format?: F;
}

export interface ListOptions extends UserRequestOptions {
  /** How many levels below `path` to list; default 1. */
  depth?: number;
}

export interface WatchOptions extends UserRequestOptions {
  recursive?: boolean;
  /** Called once when watching ends: without an error after `stop()` or a normal end. */
  onExit?: (err?: Error) => void | Promise<void>;
  /** Stops watching after this long; default 0 (no limit). */
  timeoutMs?: number;
}

/** Uploads of several files run this many at a time. */
const UPLOAD_CONCURRENCY = 4;

export class Filesystem {
  constructor(private readonly envd: EnvdClient) {}

  read(path: string, opts?: ReadOptions<"text">): Promise<string>;
  read(path: string, opts: ReadOptions<"bytes">): Promise<Uint8Array>;
  read(path: string, opts: ReadOptions<"blob">): Promise<Blob>;
  /** The stream is bounded by `signal` only; requestTimeoutMs covers the reply's headers. */
  read(path: string, opts: ReadOptions<"stream">): Promise<ReadableStream<Uint8Array>>;
  async read(path: string, opts: ReadOptions = {}): Promise<string | Uint8Array | Blob | ReadableStream<Uint8Array>> {
    const format = opts.format ?? "text";
    const scope = this.envd.api.scope(opts, `reading ${path} in sandbox ${this.envd.sandboxId}`);
    let handedOff = false;
    try {
      const res = await this.envd.http("GET", FILES_PATH, { query: { path, username: opts.user } }, scope, "file");
      if (format === "stream") {
        scope.clearDeadline();
        handedOff = true;
        return readFileBody(res, scope);
      }
      if (format === "text") return await res.text();
      if (format === "bytes") return new Uint8Array(await res.arrayBuffer());
      return await res.blob();
    } catch (err) {
      throw scope.reasonFor(err);
    } finally {
      if (!handedOff) scope.dispose();
    }
  }

  /** Writes one file, creating parent directories and replacing what was there. */
  write(path: string, data: WriteData, opts?: UserRequestOptions): Promise<WriteInfo>;
  /** Writes several files (at most 4 uploads at a time). */
  write(files: WriteEntry[], opts?: UserRequestOptions): Promise<WriteInfo[]>;
  async write(
    pathOrFiles: string | WriteEntry[],
    dataOrOpts?: WriteData | UserRequestOptions,
    maybeOpts?: UserRequestOptions,
  ): Promise<WriteInfo | WriteInfo[]> {
    if (typeof pathOrFiles === "string") {
      return this.writeOne(pathOrFiles, dataOrOpts as WriteData, maybeOpts ?? {});
    }
    const opts = (dataOrOpts ?? {}) as UserRequestOptions;
    const results: WriteInfo[] = new Array(pathOrFiles.length);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < pathOrFiles.length; i = next++) {
        const file = pathOrFiles[i] as WriteEntry;
        results[i] = await this.writeOne(file.path, file.data, opts);
      }
    };
    await Promise.all(Array.from({ length: Math.min(UPLOAD_CONCURRENCY, pathOrFiles.length) }, worker));
    return results;
  }

  private async writeOne(path: string, data: WriteData, opts: UserRequestOptions): Promise<WriteInfo> {
    if (data === undefined || data === null) {
      throw new InvalidArgumentError(ErrorCode.BadRequest, `no data given for ${path}`);
    }
    const { body, streamed } = await toUploadBody(data, isNodeRuntime());
    // A streamed upload's duration depends on the caller's producer, so only `signal` bounds it.
    const scope = streamed
      ? new OperationScope(opts.signal)
      : this.envd.api.scope(opts, `writing ${path} in sandbox ${this.envd.sandboxId}`);
    try {
      const res = await this.envd.http(
        "POST",
        FILES_PATH,
        {
          query: { path, username: opts.user },
          headers: { "Content-Type": "application/octet-stream" },
          body,
          streamBody: streamed,
        },
        scope,
        "file",
      );
      const entries = (await res.json()) as FilesUploadEntry[] | undefined;
      const entry = entries?.[0];
      if (entry === undefined) {
        throw new UnavailableError(ErrorCode.SandboxUnreachable, `envd did not confirm writing ${path}`);
      }
      const info: WriteInfo = { name: entry.name, path: entry.path };
      const type = toFileType(entry.type);
      if (type !== undefined) info.type = type;
      return info;
    } catch (err) {
      throw scope.reasonFor(err);
    } finally {
      scope.dispose();
    }
  }

  async list(path: string, opts: ListOptions = {}): Promise<EntryInfo[]> {
    const depth = opts.depth ?? 1;
    if (!Number.isInteger(depth) || depth < 1) {
      throw new InvalidArgumentError(ErrorCode.BadRequest, `depth must be an integer of at least 1, got ${depth}`);
    }
    const res = await this.envd.unary<FsListDirResponse>(FilesystemMethod.ListDir, { path, depth }, opts, "file");
    return (res?.entries ?? []).map(toEntryInfo);
  }

  async exists(path: string, opts?: UserRequestOptions): Promise<boolean> {
    try {
      await this.envd.unary(FilesystemMethod.Stat, { path }, opts, "file");
      return true;
    } catch (err) {
      if (rpcCodeOf(err) === "not_found") return false;
      throw err;
    }
  }

  /** Stat; throws FileNotFoundError when `path` does not exist. */
  async getInfo(path: string, opts?: UserRequestOptions): Promise<EntryInfo> {
    const res = await this.envd.unary<FsEntryResponse>(FilesystemMethod.Stat, { path }, opts, "file");
    return toEntryInfo(res?.entry ?? { path });
  }

  /** Alias of getInfo. */
  stat(path: string, opts?: UserRequestOptions): Promise<EntryInfo> {
    return this.getInfo(path, opts);
  }

  /** Creates a directory and its parents; false when it already existed. */
  async makeDir(path: string, opts?: UserRequestOptions): Promise<boolean> {
    try {
      await this.envd.unary(FilesystemMethod.MakeDir, { path }, opts, "file");
      return true;
    } catch (err) {
      if (rpcCodeOf(err) === "already_exists") return false;
      throw err;
    }
  }

  /** Removes a file or a directory tree; false when nothing was there. */
  async remove(path: string, opts?: UserRequestOptions): Promise<boolean> {
    try {
      await this.envd.unary(FilesystemMethod.Remove, { path }, opts, "file");
      return true;
    } catch (err) {
      if (rpcCodeOf(err) === "not_found") return false;
      throw err;
    }
  }

  /** Moves `oldPath` to `newPath`; returns the entry at its new place. */
  async rename(oldPath: string, newPath: string, opts?: UserRequestOptions): Promise<EntryInfo> {
    const res = await this.envd.unary<FsEntryResponse>(
      FilesystemMethod.Move,
      { source: oldPath, destination: newPath },
      opts,
      "file",
    );
    return toEntryInfo(res?.entry ?? { path: newPath });
  }

  /** Watches a directory; resolves once the watch is established. */
  async watchDir(
    path: string,
    onEvent: (event: FilesystemEvent) => void | Promise<void>,
    opts: WatchOptions = {},
  ): Promise<WatchHandle> {
    const scope = this.envd.api.scope(opts, `watching ${path} in sandbox ${this.envd.sandboxId}`);
    let events: AsyncGenerator<unknown, void, undefined> | undefined;
    try {
      events = await this.envd.stream(
        FilesystemMethod.WatchDir,
        { path, recursive: opts.recursive ?? false },
        opts.user,
        scope,
        "file",
      );
      const first = await events.next();
      if (first.done || (first.value as { start?: unknown } | undefined)?.start === undefined) {
        throw new UnavailableError(ErrorCode.SandboxUnreachable, `envd did not confirm watching ${path}`);
      }
    } catch (err) {
      await events?.return();
      scope.dispose();
      throw scope.reasonFor(err);
    }
    scope.setDeadline(opts.timeoutMs ?? 0, `watching ${path}`, "pass a larger timeoutMs, or 0 for no limit");
    return new WatchHandle(scope, events, onEvent, opts.onExit);
  }
}
