/** `files.watchDir` streams: filesystem events delivered to a callback until stopped. */
import { type FsEvent, FsEventType, type FsWatchDirMessage } from "@burrow/core";
import { type EntryInfo, toEntryInfo } from "./entry.js";
import type { OperationScope } from "./signals.js";

export type FilesystemEventType = "create" | "write" | "remove" | "rename" | "chmod";

export interface FilesystemEvent {
  /** Path of the entry relative to the watched directory. */
  name: string;
  type: FilesystemEventType;
  /** Info of the affected entry, when envd sent it. */
  entry?: EntryInfo;
}

const EVENT_TYPES: Record<string, FilesystemEventType> = {
  [FsEventType.Create]: "create",
  [FsEventType.Write]: "write",
  [FsEventType.Remove]: "remove",
  [FsEventType.Rename]: "rename",
  [FsEventType.Chmod]: "chmod",
  1: "create",
  2: "write",
  3: "remove",
  4: "rename",
  5: "chmod",
};

export function toFilesystemEvent(event: FsEvent): FilesystemEvent | undefined {
  const type = EVENT_TYPES[String(event.type)];
  if (type === undefined) return undefined;
  const out: FilesystemEvent = { name: event.name ?? "", type };
  if (event.entry !== undefined) out.entry = toEntryInfo(event.entry);
  return out;
}

export class WatchHandle {
  private readonly done: Promise<void>;
  private stopped = false;

  constructor(
    private readonly scope: OperationScope,
    events: AsyncGenerator<unknown, void, undefined>,
    onEvent: (event: FilesystemEvent) => void | Promise<void>,
    onExit: ((err?: Error) => void | Promise<void>) | undefined,
  ) {
    this.done = this.pump(events, onEvent, onExit);
  }

  /** Stops watching; resolves once the stream is closed (onExit is called without an error). */
  async stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      this.scope.abort();
    }
    await this.done;
  }

  private async pump(
    events: AsyncGenerator<unknown, void, undefined>,
    onEvent: (event: FilesystemEvent) => void | Promise<void>,
    onExit: ((err?: Error) => void | Promise<void>) | undefined,
  ): Promise<void> {
    let error: Error | undefined;
    try {
      for await (const message of events) {
        const fsEvent = (message as FsWatchDirMessage | undefined)?.filesystem;
        if (fsEvent === undefined || this.stopped) continue;
        const event = toFilesystemEvent(fsEvent);
        if (event !== undefined) await onEvent(event);
      }
    } catch (err) {
      if (!this.stopped) {
        const reason = this.scope.reasonFor(err);
        error = reason instanceof Error ? reason : new Error(String(reason));
      }
    } finally {
      this.scope.dispose();
    }
    try {
      await onExit?.(error);
    } catch {
      // onExit is a notification; its failure has nobody to report to.
    }
  }
}
