import type { EgressPolicy } from "@burrow/core";
import type { Db } from "./db.js";

/** Egress policies of sandboxes that have one other than the default (allow everything). */
export interface EgressStore {
  get(sandboxId: string): Promise<EgressPolicy | undefined>;
  set(sandboxId: string, policy: EgressPolicy): Promise<void>;
  delete(sandboxId: string): Promise<void>;
}

/** Egress policies in SQLite. */
export class SqliteEgressStore implements EgressStore {
  constructor(private readonly db: Db) {}

  async get(sandboxId: string): Promise<EgressPolicy | undefined> {
    const text = this.db.prepare("SELECT policy FROM sandbox_egress WHERE sandbox_id = ?").pluck().get(sandboxId);
    return typeof text === "string" ? (JSON.parse(text) as EgressPolicy) : undefined;
  }

  async set(sandboxId: string, policy: EgressPolicy): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO sandbox_egress (sandbox_id, policy) VALUES (?, ?)
         ON CONFLICT(sandbox_id) DO UPDATE SET policy = excluded.policy`,
      )
      .run(sandboxId, JSON.stringify(policy));
  }

  async delete(sandboxId: string): Promise<void> {
    this.db.prepare("DELETE FROM sandbox_egress WHERE sandbox_id = ?").run(sandboxId);
  }
}
