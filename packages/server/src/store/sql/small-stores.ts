import { randomBytes, timingSafeEqual } from "node:crypto";
import type { EgressPolicy, SandboxEvent, SandboxState } from "@burrow/core";
import { type ApiKey, type ApiKeyKind, type ApiKeyStore, hashKey } from "../api-key-store.js";
import type { EgressStore } from "../egress-store.js";
import type { EventListener, EventStore, NewEvent } from "../event-store.js";
import type { SqlDatabase } from "./database.js";

/** API keys through Kysely (only the sha256 of a key is stored). */
export class SqlApiKeyStore implements ApiKeyStore {
  constructor(private readonly database: SqlDatabase) {}

  async count(): Promise<number> {
    const row = await this.database.db
      .selectFrom("api_keys")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async create(name: string, now: string, kind: ApiKeyKind = "burrow"): Promise<{ key: string; id: string }> {
    const key = `${kind}_${randomBytes(24).toString("hex")}`;
    const id = `key_${randomBytes(8).toString("hex")}`;
    await this.database.db
      .insertInto("api_keys")
      .values({ id, name, key_hash: hashKey(key), created_at: now })
      .execute();
    return { key, id };
  }

  async verify(key: string): Promise<ApiKey | undefined> {
    const hash = hashKey(key);
    const row = await this.database.db
      .selectFrom("api_keys")
      .select(["id", "name", "key_hash"])
      .where("key_hash", "=", hash)
      .executeTakeFirst();
    if (!row) return undefined;
    const ok = timingSafeEqual(Buffer.from(row.key_hash, "hex"), Buffer.from(hash, "hex"));
    return ok ? { id: row.id, name: row.name } : undefined;
  }
}

/** Sandboxes' egress policies through Kysely (JSON text). */
export class SqlEgressStore implements EgressStore {
  constructor(private readonly database: SqlDatabase) {}

  async get(sandboxId: string): Promise<EgressPolicy | undefined> {
    const row = await this.database.db
      .selectFrom("sandbox_egress")
      .select("policy")
      .where("sandbox_id", "=", sandboxId)
      .executeTakeFirst();
    return row ? (JSON.parse(row.policy) as EgressPolicy) : undefined;
  }

  async set(sandboxId: string, policy: EgressPolicy): Promise<void> {
    const text = JSON.stringify(policy);
    await this.database.db
      .insertInto("sandbox_egress")
      .values({ sandbox_id: sandboxId, policy: text })
      .onConflict((oc) => oc.column("sandbox_id").doUpdateSet({ policy: text }))
      .execute();
  }

  async delete(sandboxId: string): Promise<void> {
    await this.database.db.deleteFrom("sandbox_egress").where("sandbox_id", "=", sandboxId).execute();
  }
}

/**
 * Sandbox events through Kysely; ids come from the database (increasing). Subscribers hear the
 * events this process adds (not yet those other nodes add).
 */
export class SqlEventStore implements EventStore {
  private readonly listeners = new Set<EventListener>();

  constructor(private readonly database: SqlDatabase) {}

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  async add(event: NewEvent): Promise<void> {
    const { id } = await this.database.db
      .insertInto("events")
      .values({
        sandbox_id: event.sandboxId,
        at: event.at,
        type: event.type,
        from_state: event.from ?? null,
        to_state: event.to ?? null,
        reason: event.reason,
        duration_ms: event.durationMs ?? null,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    if (this.listeners.size === 0) return;
    const stored: SandboxEvent = { id: Number(id), ...event };
    for (const listener of this.listeners) {
      try {
        listener(stored);
      } catch {
        // A listener's failure is its own; the event is stored and the others still hear it.
      }
    }
  }

  async lastType(sandboxId: string): Promise<string | undefined> {
    const row = await this.database.db
      .selectFrom("events")
      .select("type")
      .where("sandbox_id", "=", sandboxId)
      .orderBy("id", "desc")
      .limit(1)
      .executeTakeFirst();
    return row?.type;
  }

  async list(sandboxId: string, after = 0, limit = 1000): Promise<SandboxEvent[]> {
    const rows = await this.database.db
      .selectFrom("events")
      .selectAll()
      .where("sandbox_id", "=", sandboxId)
      .where("id", ">", after)
      .orderBy("id")
      .limit(limit)
      .execute();
    return rows.map((r) => {
      const e: SandboxEvent = { id: Number(r.id), sandboxId: r.sandbox_id, at: r.at, type: r.type, reason: r.reason };
      if (r.from_state) e.from = r.from_state as SandboxState;
      if (r.to_state) e.to = r.to_state as SandboxState;
      if (r.duration_ms !== null) e.durationMs = r.duration_ms;
      return e;
    });
  }
}
