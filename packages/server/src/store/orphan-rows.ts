import type { Db } from "./db.js";

/** Tables that keep rows per sandbox for other services; SandboxService.delete drops them. */
const PER_SANDBOX_TABLES = [
  "sandbox_egress",
  "sandbox_secrets",
  "previews",
  "e2b_sandboxes",
  "sandbox_volumes",
] as const;

/**
 * Deletes rows of those tables whose sandbox is deleted or unknown: left by releases whose E2B
 * and timer deletes did not drop them. Run at start, once the stores have made their tables.
 * Returns how many rows went.
 */
export function deleteOrphanRows(db: Db): number {
  let removed = 0;
  db.transaction(() => {
    for (const table of PER_SANDBOX_TABLES) {
      removed += db
        .prepare(`DELETE FROM ${table} WHERE sandbox_id NOT IN (SELECT id FROM sandboxes WHERE state != 'deleted')`)
        .run().changes;
    }
  })();
  return removed;
}
