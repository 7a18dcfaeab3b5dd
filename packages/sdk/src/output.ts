/** Bounded buffers for command output. */

export const DEFAULT_MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

/**
 * Accumulates one output stream as text, keeping at most `maxBytes` bytes of it (the head);
 * further bytes are counted and dropped, and `truncated` turns true.
 */
export class TextAccumulator {
  private readonly decoder = new TextDecoder();
  private readonly parts: string[] = [];
  private joined: string | undefined = "";
  private kept = 0;
  truncated = false;

  constructor(private readonly maxBytes = DEFAULT_MAX_OUTPUT_BYTES) {}

  push(bytes: Uint8Array): void {
    const room = this.maxBytes - this.kept;
    if (room <= 0) {
      if (bytes.length > 0) this.truncated = true;
      return;
    }
    const slice = bytes.length > room ? bytes.subarray(0, room) : bytes;
    if (slice.length < bytes.length) this.truncated = true;
    this.kept += slice.length;
    this.append(this.decoder.decode(slice, { stream: true }));
  }

  /** Flushes a trailing partial UTF-8 sequence (as U+FFFD). */
  end(): void {
    this.append(this.decoder.decode());
  }

  get text(): string {
    if (this.joined === undefined) {
      this.joined = this.parts.join("");
      this.parts.length = 0;
      this.parts.push(this.joined);
    }
    return this.joined;
  }

  private append(text: string): void {
    if (text === "") return;
    this.parts.push(text);
    this.joined = undefined;
  }
}

interface Waiter<T> {
  resolve: (result: IteratorResult<T>) => void;
  reject: (err: unknown) => void;
}

/**
 * A single-consumer async queue between the event pump and an async iterator.
 * Before a consumer attaches, up to `maxBytes` of items are kept and later ones dropped
 * (so an unread handle cannot grow without bound); once a consumer attaches, `push` waits
 * while more than `maxBytes` are queued, pausing the stream instead of dropping output.
 */
export class OutputChannel<T> {
  private readonly queue: { item: T; size: number }[] = [];
  private queuedBytes = 0;
  private waiter: Waiter<T> | undefined;
  private spaceWaiters: (() => void)[] = [];
  private attached = false;
  private closed = false;
  private failure: { error: unknown } | undefined;
  /** True when items were dropped because nobody was reading. */
  dropped = false;

  constructor(private readonly maxBytes = DEFAULT_MAX_OUTPUT_BYTES) {}

  async push(item: T, size: number): Promise<void> {
    if (this.closed) return;
    if (this.waiter !== undefined) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: item, done: false });
      return;
    }
    if (!this.attached && this.queuedBytes + size > this.maxBytes) {
      this.dropped = true;
      return;
    }
    this.queue.push({ item, size });
    this.queuedBytes += size;
    while (this.attached && !this.closed && this.queuedBytes > this.maxBytes) {
      await new Promise<void>((resolve) => this.spaceWaiters.push(resolve));
    }
  }

  /** Ends the channel; a consumer sees the queued items, then the end (or `error`). */
  close(error?: unknown): void {
    if (this.closed) return;
    this.closed = true;
    if (error !== undefined) this.failure = { error };
    this.releaseSpace();
    if (this.waiter !== undefined && this.queue.length === 0) {
      const w = this.waiter;
      this.waiter = undefined;
      if (this.failure !== undefined) w.reject(this.failure.error);
      else w.resolve({ value: undefined, done: true });
    }
  }

  /** The one consumer; leaving the loop early stops queueing (the command keeps running). */
  iterator(): AsyncIterator<T> {
    if (this.attached) throw new Error("command output can be iterated only once");
    this.attached = true;
    return {
      next: () => this.next(),
      return: async () => {
        this.close();
        this.queue.length = 0;
        this.queuedBytes = 0;
        this.releaseSpace();
        return { value: undefined, done: true };
      },
    };
  }

  private next(): Promise<IteratorResult<T>> {
    const head = this.queue.shift();
    if (head !== undefined) {
      this.queuedBytes -= head.size;
      if (this.queuedBytes <= this.maxBytes) this.releaseSpace();
      return Promise.resolve({ value: head.item, done: false });
    }
    if (this.closed) {
      if (this.failure !== undefined) {
        const { error } = this.failure;
        this.failure = undefined;
        return Promise.reject(error);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  private releaseSpace(): void {
    const waiters = this.spaceWaiters;
    this.spaceWaiters = [];
    for (const w of waiters) w();
  }
}
