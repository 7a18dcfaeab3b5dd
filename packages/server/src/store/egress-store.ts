import type { EgressPolicy } from "@burrow/core";
import type { Db } from "./db.js";

/** Egress policies of sandboxes that have one other than the default (allow everything). */
export class EgressStore {
  constructor(private readonly db: Db) {}

  get(sandboxId: string): EgressPolicy | undefined {
    const text = this.db.prepare("SELECT policy FROM sandbox_egress WHERE sandbox_id = ?").pluck().get(sandboxId);
    return typeof text === "string" ? (JSON.parse(text) as EgressPolicy) : undefined;
  }

  set(sandboxId: string, policy: EgressPolicy): void {
    this.db
      .prepare(
        `INSERT INTO sandbox_egress (sandbox_id, policy) VALUES (?, ?)
         ON CONFLICT(sandbox_id) DO UPDATE SET policy = excluded.policy`,
      )
      .run(sandboxId, JSON.stringify(policy));
  }

  delete(sandboxId: string): void {
    this.db.prepare("DELETE FROM sandbox_egress WHERE sandbox_id = ?").run(sandboxId);
  }
}
