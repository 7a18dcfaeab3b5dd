import type { Db } from "./db.js";

export type StoredOnTimeout = "kill" | "pause";

/**
 * What E2B's API knows about a sandbox that Burrow's policy cannot say by itself: the action
 * chosen at create for its timeout. While an E2B "kill" sandbox is paused its policy stops
 * deleting it; this row is how connect knows to turn deletion back on.
 */
export class E2bStore {
  constructor(private readonly db: Db) {}

  setOnTimeout(sandboxId: string, onTimeout: StoredOnTimeout): void {
    this.db
      .prepare(
        `INSERT INTO e2b_sandboxes (sandbox_id, on_timeout) VALUES (?, ?)
         ON CONFLICT(sandbox_id) DO UPDATE SET on_timeout = excluded.on_timeout`,
      )
      .run(sandboxId, onTimeout);
  }

  onTimeout(sandboxId: string): StoredOnTimeout | undefined {
    return this.db.prepare("SELECT on_timeout FROM e2b_sandboxes WHERE sandbox_id = ?").pluck().get(sandboxId) as
      | StoredOnTimeout
      | undefined;
  }

  forget(sandboxId: string): void {
    this.db.prepare("DELETE FROM e2b_sandboxes WHERE sandbox_id = ?").run(sandboxId);
  }
}
