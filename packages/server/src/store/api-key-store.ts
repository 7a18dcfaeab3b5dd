import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Db } from "./db.js";

export interface ApiKey {
  id: string;
  name: string;
}

export type ApiKeyKind = "burrow" | "e2b";

export function hashKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

/** API keys, stored only as SHA-256 hashes. */
export interface ApiKeyStore {
  count(): Promise<number>;
  /** Creates a key and returns its plaintext; only the hash is stored. */
  create(name: string, now: string, kind?: ApiKeyKind): Promise<{ key: string; id: string }>;
  verify(key: string): Promise<ApiKey | undefined>;
}

/** API keys in SQLite. */
export class SqliteApiKeyStore implements ApiKeyStore {
  constructor(private readonly db: Db) {}

  async count(): Promise<number> {
    return (this.db.prepare("SELECT COUNT(*) AS n FROM api_keys").get() as { n: number }).n;
  }

  /**
   * Creates a key and returns its plaintext; only the hash is stored. Both kinds work on every
   * API; `e2b` keys look like E2B's (`e2b_<hex>`), which the e2b SDK checks before sending them.
   */
  async create(name: string, now: string, kind: ApiKeyKind = "burrow"): Promise<{ key: string; id: string }> {
    const key = `${kind}_${randomBytes(24).toString("hex")}`;
    const id = `key_${randomBytes(8).toString("hex")}`;
    this.db
      .prepare("INSERT INTO api_keys (id, name, key_hash, created_at) VALUES (?, ?, ?, ?)")
      .run(id, name, hashKey(key), now);
    return { key, id };
  }

  async verify(key: string): Promise<ApiKey | undefined> {
    const hash = hashKey(key);
    const row = this.db.prepare("SELECT id, name, key_hash FROM api_keys WHERE key_hash = ?").get(hash) as
      | { id: string; name: string; key_hash: string }
      | undefined;
    if (!row) return undefined;
    const ok = timingSafeEqual(Buffer.from(row.key_hash, "hex"), Buffer.from(hash, "hex"));
    return ok ? { id: row.id, name: row.name } : undefined;
  }
}
