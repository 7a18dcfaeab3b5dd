import type { SandboxStore } from "../store/sandbox-store.js";

interface Entry {
  lastMs: number;
  active: number;
  keepAliveUntilMs: number;
  persistedMs: number;
}

const PERSIST_EVERY_MS = 1_000;

/**
 * What counts as activity: API calls on a sandbox, open exec/PTY/watch streams and in-flight
 * proxied requests (counted while open), and explicit keepalives. Kept in memory; the last
 * activity time is written to the database at most once a second per sandbox.
 */
export class ActivityTracker {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly store: SandboxStore,
    private readonly nowMs: () => number = () => Date.now(),
  ) {}

  private entry(id: string): Entry {
    let e = this.entries.get(id);
    if (!e) {
      e = { lastMs: this.nowMs(), active: 0, keepAliveUntilMs: 0, persistedMs: 0 };
      this.entries.set(id, e);
    }
    return e;
  }

  touch(id: string): void {
    const e = this.entry(id);
    e.lastMs = this.nowMs();
    if (e.lastMs - e.persistedMs >= PERSIST_EVERY_MS) {
      e.persistedMs = e.lastMs;
      // Not awaited: callers are stream and request handlers; the time is a hint kept in memory too.
      void this.store.setLastActivity(id, new Date(e.lastMs).toISOString()).catch(() => undefined);
    }
  }

  /** Counts `fn` as ongoing activity until it settles. */
  async track<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const e = this.entry(id);
    e.active++;
    this.touch(id);
    try {
      return await fn();
    } finally {
      e.active--;
      this.touch(id);
    }
  }

  keepAlive(id: string, durationMs: number): void {
    const e = this.entry(id);
    e.keepAliveUntilMs = Math.max(e.keepAliveUntilMs, this.nowMs() + durationMs);
    this.touch(id);
  }

  /** Milliseconds since the sandbox was last active; 0 while something keeps it busy. */
  idleMs(id: string): number {
    const e = this.entry(id);
    const now = this.nowMs();
    if (e.active > 0 || e.keepAliveUntilMs > now) return 0;
    return Math.max(0, now - Math.max(e.lastMs, e.keepAliveUntilMs));
  }

  forget(id: string): void {
    this.entries.delete(id);
  }
}
