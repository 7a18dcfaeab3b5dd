import type { WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus, WebhookPayload } from "@burrow/core";
import type { Db } from "./db.js";

/** A webhook as stored: its signing secret only sealed (secrets/secret-cipher.ts). */
export interface WebhookRecord {
  id: string;
  url: string;
  events: string[];
  sealedSecret: Buffer;
  createdAt: string;
}

interface HookRow {
  id: string;
  url: string;
  events: string;
  secret: string;
  created_at: string;
}

interface DeliveryRow {
  id: string;
  webhook_id: string;
  event: string;
  sandbox_id: string | null;
  status: string;
  payload: string;
  attempts: string;
  created_at: string;
  next_attempt_at: string | null;
}

const hookFromRow = (r: HookRow): WebhookRecord => ({
  id: r.id,
  url: r.url,
  events: JSON.parse(r.events) as string[],
  sealedSecret: Buffer.from(r.secret, "base64"),
  createdAt: r.created_at,
});

const deliveryFromRow = (r: DeliveryRow): WebhookDelivery => ({
  id: r.id,
  webhookId: r.webhook_id,
  event: r.event,
  ...(r.sandbox_id === null ? {} : { sandboxId: r.sandbox_id }),
  status: r.status as WebhookDeliveryStatus,
  createdAt: r.created_at,
  ...(r.next_attempt_at === null ? {} : { nextAttemptAt: r.next_attempt_at }),
  attempts: JSON.parse(r.attempts) as WebhookAttempt[],
  payload: JSON.parse(r.payload) as WebhookPayload,
});

/** Webhooks and their deliveries (an outbox: a pending delivery survives a restart). */
export interface WebhookStore {
  insert(hook: WebhookRecord): Promise<void>;
  list(): Promise<WebhookRecord[]>;
  get(id: string): Promise<WebhookRecord | undefined>;
  /** Deletes the webhook and its deliveries; false when there was no such webhook. */
  delete(id: string): Promise<boolean>;
  /** Stores new pending deliveries, due now, in one transaction. */
  enqueue(deliveries: WebhookDelivery[]): Promise<void>;
  /**
   * Pending deliveries due at `nowIso`, oldest first; one of a sandbox only if it is the oldest
   * pending one of its webhook and sandbox (a later event for a sandbox waits for the earlier
   * one's retries: order holds). Deliveries of no sandbox (builds, tests) keep no order.
   */
  due(nowIso: string, limit: number): Promise<WebhookDelivery[]>;
  /** Records an attempt; `next` is when to try again, or the delivery's final status. */
  recordAttempt(
    id: string,
    attempt: WebhookAttempt,
    next: { retryAt: string } | { status: "delivered" | "failed" },
  ): Promise<void>;
  /** A webhook's deliveries, newest first. */
  deliveries(webhookId: string, limit: number): Promise<WebhookDelivery[]>;
  /** Drops finished deliveries created before `beforeIso`; answers how many. */
  prune(beforeIso: string): Promise<number>;
}

/** Webhooks in SQLite. */
export class SqliteWebhookStore implements WebhookStore {
  constructor(private readonly db: Db) {}

  async insert(h: WebhookRecord): Promise<void> {
    this.db
      .prepare("INSERT INTO webhooks (id, url, events, secret, created_at) VALUES (?, ?, ?, ?, ?)")
      .run(h.id, h.url, JSON.stringify(h.events), h.sealedSecret.toString("base64"), h.createdAt);
  }

  async list(): Promise<WebhookRecord[]> {
    return (this.db.prepare("SELECT * FROM webhooks ORDER BY created_at, id").all() as HookRow[]).map(hookFromRow);
  }

  async get(id: string): Promise<WebhookRecord | undefined> {
    const row = this.db.prepare("SELECT * FROM webhooks WHERE id = ?").get(id) as HookRow | undefined;
    return row ? hookFromRow(row) : undefined;
  }

  async delete(id: string): Promise<boolean> {
    return this.db.transaction(() => {
      this.db.prepare("DELETE FROM webhook_deliveries WHERE webhook_id = ?").run(id);
      return this.db.prepare("DELETE FROM webhooks WHERE id = ?").run(id).changes > 0;
    })();
  }

  async enqueue(deliveries: WebhookDelivery[]): Promise<void> {
    const insert = this.db.prepare(
      `INSERT INTO webhook_deliveries (id, webhook_id, event, sandbox_id, status, payload, attempts, created_at, next_attempt_at)
       VALUES (?, ?, ?, ?, 'pending', ?, '[]', ?, ?)`,
    );
    this.db.transaction(() => {
      for (const d of deliveries) {
        insert.run(
          d.id,
          d.webhookId,
          d.event,
          d.sandboxId ?? null,
          JSON.stringify(d.payload),
          d.createdAt,
          d.createdAt,
        );
      }
    })();
  }

  async due(nowIso: string, limit: number): Promise<WebhookDelivery[]> {
    const rows = this.db
      .prepare(
        `SELECT d.* FROM webhook_deliveries d
         WHERE d.status = 'pending' AND d.next_attempt_at <= ?
           AND (d.sandbox_id IS NULL OR NOT EXISTS (SELECT 1 FROM webhook_deliveries e
             WHERE e.status = 'pending' AND e.webhook_id = d.webhook_id
               AND e.sandbox_id = d.sandbox_id AND e.seq < d.seq))
         ORDER BY d.seq LIMIT ?`,
      )
      .all(nowIso, limit) as DeliveryRow[];
    return rows.map(deliveryFromRow);
  }

  async recordAttempt(
    id: string,
    attempt: WebhookAttempt,
    next: { retryAt: string } | { status: "delivered" | "failed" },
  ): Promise<void> {
    this.db.transaction(() => {
      const row = this.db.prepare("SELECT attempts FROM webhook_deliveries WHERE id = ?").get(id) as
        | { attempts: string }
        | undefined;
      if (!row) return;
      const attempts = [...(JSON.parse(row.attempts) as WebhookAttempt[]), attempt];
      const status = "retryAt" in next ? "pending" : next.status;
      const nextAt = "retryAt" in next ? next.retryAt : null;
      this.db
        .prepare("UPDATE webhook_deliveries SET attempts = ?, status = ?, next_attempt_at = ? WHERE id = ?")
        .run(JSON.stringify(attempts), status, nextAt, id);
    })();
  }

  async deliveries(webhookId: string, limit: number): Promise<WebhookDelivery[]> {
    const rows = this.db
      .prepare("SELECT * FROM webhook_deliveries WHERE webhook_id = ? ORDER BY seq DESC LIMIT ?")
      .all(webhookId, limit) as DeliveryRow[];
    return rows.map(deliveryFromRow);
  }

  async prune(beforeIso: string): Promise<number> {
    return this.db.prepare("DELETE FROM webhook_deliveries WHERE status != 'pending' AND created_at < ?").run(beforeIso)
      .changes;
  }
}
