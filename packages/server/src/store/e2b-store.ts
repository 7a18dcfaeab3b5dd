import type { Db } from "./db.js";

export type StoredOnTimeout = "kill" | "pause";

export interface E2bIngress {
  /** Required in `e2b-traffic-access-token` on every port but the agent's; null: ports are public. */
  trafficToken: string | null;
  /** The Host sent to the sandbox's services (`${PORT}` replaced); null: the client's. */
  maskRequestHost: string | null;
}

/**
 * What E2B's API knows about a sandbox that Burrow's policy cannot say by itself: the action
 * chosen at create for its timeout (while an E2B "kill" sandbox is paused its policy stops
 * deleting it; this row is how connect knows to turn deletion back on), and whether its next
 * connect boots it afresh on its files (E2B's pause without memory).
 */
export interface E2bStore {
  setOnTimeout(sandboxId: string, onTimeout: StoredOnTimeout): Promise<void>;
  onTimeout(sandboxId: string): Promise<StoredOnTimeout | undefined>;
  /** Whether a pause on timeout keeps memory (E2B's `onTimeout.keepMemory`, default true). */
  setAutoPauseMemory(sandboxId: string, keepMemory: boolean): Promise<void>;
  /** Records an explicit pause and whether it kept memory; `undefined` clears it (after connect). */
  setPausedMemory(sandboxId: string, keepMemory: boolean | undefined): Promise<void>;
  /** Whether waking this sleeping sandbox through connect starts it afresh on its files. */
  bootsFreshOnConnect(sandboxId: string): Promise<boolean>;
  setIngress(sandboxId: string, ingress: E2bIngress): Promise<void>;
  ingress(sandboxId: string): Promise<E2bIngress | undefined>;
  forget(sandboxId: string): Promise<void>;
}

/** The E2B rows in SQLite. */
export class SqliteE2bStore implements E2bStore {
  constructor(private readonly db: Db) {}

  async setOnTimeout(sandboxId: string, onTimeout: StoredOnTimeout): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO e2b_sandboxes (sandbox_id, on_timeout) VALUES (?, ?)
         ON CONFLICT(sandbox_id) DO UPDATE SET on_timeout = excluded.on_timeout`,
      )
      .run(sandboxId, onTimeout);
  }

  async onTimeout(sandboxId: string): Promise<StoredOnTimeout | undefined> {
    return this.db.prepare("SELECT on_timeout FROM e2b_sandboxes WHERE sandbox_id = ?").pluck().get(sandboxId) as
      | StoredOnTimeout
      | undefined;
  }

  /** Whether a pause on timeout keeps memory (E2B's `onTimeout.keepMemory`, default true). */
  async setAutoPauseMemory(sandboxId: string, keepMemory: boolean): Promise<void> {
    this.db
      .prepare("UPDATE e2b_sandboxes SET auto_pause_memory = ? WHERE sandbox_id = ?")
      .run(keepMemory ? 1 : 0, sandboxId);
  }

  /**
   * Records an explicit pause and whether it kept memory; `undefined` clears it (after connect).
   * The sandbox must have a row (setOnTimeout).
   */
  async setPausedMemory(sandboxId: string, keepMemory: boolean | undefined): Promise<void> {
    this.db
      .prepare("UPDATE e2b_sandboxes SET paused_memory = ? WHERE sandbox_id = ?")
      .run(keepMemory === undefined ? null : keepMemory ? 1 : 0, sandboxId);
  }

  /**
   * Whether waking this sleeping sandbox through connect starts it afresh on its files: it was
   * paused without memory, or went to sleep on its timeout with `keepMemory: false`.
   */
  async bootsFreshOnConnect(sandboxId: string): Promise<boolean> {
    const row = this.db
      .prepare("SELECT auto_pause_memory, paused_memory FROM e2b_sandboxes WHERE sandbox_id = ?")
      .get(sandboxId) as { auto_pause_memory: number; paused_memory: number | null } | undefined;
    if (row === undefined) return false;
    return row.paused_memory === null ? row.auto_pause_memory === 0 : row.paused_memory === 0;
  }

  /** E2B's ingress options: `allowPublicTraffic: false` (its token) and `maskRequestHost`. */
  async setIngress(sandboxId: string, ingress: E2bIngress): Promise<void> {
    this.db
      .prepare("UPDATE e2b_sandboxes SET traffic_token = ?, mask_request_host = ? WHERE sandbox_id = ?")
      .run(ingress.trafficToken, ingress.maskRequestHost, sandboxId);
  }

  async ingress(sandboxId: string): Promise<E2bIngress | undefined> {
    const row = this.db
      .prepare("SELECT traffic_token, mask_request_host FROM e2b_sandboxes WHERE sandbox_id = ?")
      .get(sandboxId) as { traffic_token: string | null; mask_request_host: string | null } | undefined;
    return row && { trafficToken: row.traffic_token, maskRequestHost: row.mask_request_host };
  }

  async forget(sandboxId: string): Promise<void> {
    this.db.prepare("DELETE FROM e2b_sandboxes WHERE sandbox_id = ?").run(sandboxId);
  }
}
