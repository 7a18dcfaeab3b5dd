import type { SandboxEvent, SandboxState } from "@burrow/core";
import type { Db } from "./db.js";

interface Row {
  id: number;
  sandbox_id: string;
  at: string;
  type: string;
  from_state: string | null;
  to_state: string | null;
  reason: string;
  duration_ms: number | null;
}

export type NewEvent = Omit<SandboxEvent, "id">;

export type EventListener = (event: SandboxEvent) => void;

/** Every lifecycle transition of every sandbox, with time and reason; subscribers see each new one. */
export interface EventStore {
  /** Calls `listener` with every event added from now on; returns the unsubscribe function. */
  subscribe(listener: EventListener): () => void;
  /** Stores the event, then calls the subscribers with it. */
  add(event: NewEvent): Promise<void>;
  /** The type of the sandbox's latest event, if any. */
  lastType(sandboxId: string): Promise<string | undefined>;
  /** A sandbox's events, oldest first; at most `limit`, after event id `after`. */
  list(sandboxId: string, after?: number, limit?: number): Promise<SandboxEvent[]>;
}

/** Events in SQLite; subscribers are called in this process. */
export class SqliteEventStore implements EventStore {
  private readonly listeners = new Set<EventListener>();

  constructor(private readonly db: Db) {}

  /** Calls `listener` with every event added from now on; returns the unsubscribe function. */
  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  async add(event: NewEvent): Promise<void> {
    const result = this.db
      .prepare(
        "INSERT INTO events (sandbox_id, at, type, from_state, to_state, reason, duration_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
      )
      .run(
        event.sandboxId,
        event.at,
        event.type,
        event.from ?? null,
        event.to ?? null,
        event.reason,
        event.durationMs ?? null,
      );
    if (this.listeners.size === 0) return;
    const stored: SandboxEvent = { id: Number(result.lastInsertRowid), ...event };
    for (const listener of this.listeners) {
      try {
        listener(stored);
      } catch {
        // A listener's failure (a closed stream) must not fail the transition that wrote the event.
      }
    }
  }

  /** The type of the sandbox's latest event, if any. */
  async lastType(sandboxId: string): Promise<string | undefined> {
    return this.db
      .prepare("SELECT type FROM events WHERE sandbox_id = ? ORDER BY id DESC LIMIT 1")
      .pluck()
      .get(sandboxId) as string | undefined;
  }

  /** A sandbox's events, oldest first; at most `limit`, after event id `after`. */
  async list(sandboxId: string, after = 0, limit = 1000): Promise<SandboxEvent[]> {
    const rows = this.db
      .prepare("SELECT * FROM events WHERE sandbox_id = ? AND id > ? ORDER BY id LIMIT ?")
      .all(sandboxId, after, limit) as Row[];
    return rows.map((r) => {
      const e: SandboxEvent = { id: r.id, sandboxId: r.sandbox_id, at: r.at, type: r.type, reason: r.reason };
      if (r.from_state) e.from = r.from_state as SandboxState;
      if (r.to_state) e.to = r.to_state as SandboxState;
      if (r.duration_ms !== null) e.durationMs = r.duration_ms;
      return e;
    });
  }
}
