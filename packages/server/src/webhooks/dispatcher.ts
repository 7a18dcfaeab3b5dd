import {
  type Logger,
  WEBHOOK_DELIVERY_HEADER,
  WEBHOOK_EVENT_HEADER,
  WEBHOOK_SIGNATURE_HEADER,
  type WebhookAttempt,
  type WebhookDelivery,
} from "@burrow/core";
import type { WebhookRecord, WebhookStore } from "../store/webhook-store.js";
import type { WebhookAddressPolicy } from "./blocked-addresses.js";
import { signWebhook } from "./signature.js";

/** Waits before each retry: 10 s, 30 s, 2 min, 10 min, 30 min, 1 h, then every 2 h until 24 h. */
export const DEFAULT_RETRY_DELAYS_MS = [10_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000, 7_200_000];
/** A delivery still failing this long after its event is given up. */
export const DELIVERY_WINDOW_MS = 24 * 3_600_000;
const BATCH = 32;
const PARALLEL = 8;

export interface DispatcherOptions {
  store: WebhookStore;
  /** The webhook's signing secret, unsealed. */
  secretOf: (hook: WebhookRecord) => string;
  addresses: WebhookAddressPolicy;
  logger: Logger;
  now: () => number;
  retryDelaysMs?: number[];
  /** Time an endpoint gets to answer an attempt. */
  timeoutMs?: number;
  /** How often due retries are looked for. */
  pollMs?: number;
}

/**
 * Sends pending deliveries from the store (the outbox), in the background: a slow or failing
 * endpoint never holds up the API. Each attempt is recorded; a non-2xx answer or no answer is
 * retried with backoff for 24 h. Deliveries of one webhook and sandbox go out in order.
 */
export class WebhookDispatcher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(private readonly o: DispatcherOptions) {}

  start(): void {
    this.timer = setInterval(() => this.kick(), this.o.pollMs ?? 1_000);
    this.timer.unref();
    this.kick();
  }

  /** Looks for due deliveries now (after new events), without waiting for the poll. */
  kick(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain()
      .catch((err: unknown) => this.o.logger.warn({ err: String(err) }, "webhook dispatch failed"))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Stops polling and waits for attempts in flight. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  private async drain(): Promise<void> {
    for (;;) {
      if (this.closed) return;
      const due = await this.o.store.due(new Date(this.o.now()).toISOString(), BATCH);
      if (due.length === 0) return;
      const hooks = new Map<string, WebhookRecord | undefined>();
      for (let i = 0; i < due.length; i += PARALLEL) {
        await Promise.all(due.slice(i, i + PARALLEL).map((d) => this.deliver(d, hooks)));
      }
      // On until nothing is due: each round delivers or reschedules what it took, and may have
      // let later deliveries of the same sandbox become due.
    }
  }

  private async deliver(d: WebhookDelivery, hooks: Map<string, WebhookRecord | undefined>): Promise<void> {
    if (!hooks.has(d.webhookId)) hooks.set(d.webhookId, await this.o.store.get(d.webhookId));
    const hook = hooks.get(d.webhookId);
    if (!hook) {
      // Deleted meanwhile, with its deliveries; a row left behind is ended, not tried forever.
      await this.o.store.recordAttempt(
        d.id,
        { at: new Date(this.o.now()).toISOString(), error: "webhook deleted", durationMs: 0 },
        { status: "failed" },
      );
      return;
    }
    if (await this.o.addresses.blockedHost(new URL(hook.url).hostname)) {
      const at = new Date(this.o.now()).toISOString();
      const error = "the URL's host resolves to a sandbox or link-local address";
      await this.o.store.recordAttempt(d.id, { at, error, durationMs: 0 }, { status: "failed" });
      return;
    }
    const attempt = await this.attempt(hook, d);
    if (attempt.status !== undefined && attempt.status >= 200 && attempt.status < 300) {
      await this.o.store.recordAttempt(d.id, attempt, { status: "delivered" });
      return;
    }
    const delays = this.o.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    const delay = delays[Math.min(d.attempts.length, delays.length - 1)] ?? 60_000;
    const retryAt = this.o.now() + delay;
    if (retryAt - Date.parse(d.createdAt) > DELIVERY_WINDOW_MS) {
      await this.o.store.recordAttempt(d.id, attempt, { status: "failed" });
      this.o.logger.warn({ webhook: hook.id, delivery: d.id }, "webhook delivery given up after 24 h");
      return;
    }
    await this.o.store.recordAttempt(d.id, attempt, { retryAt: new Date(retryAt).toISOString() });
  }

  private async attempt(hook: WebhookRecord, d: WebhookDelivery): Promise<WebhookAttempt> {
    const started = this.o.now();
    const body = JSON.stringify(d.payload);
    const at = new Date(started).toISOString();
    try {
      const res = await fetch(hook.url, {
        method: "POST",
        redirect: "manual",
        signal: AbortSignal.timeout(this.o.timeoutMs ?? 10_000),
        headers: {
          "content-type": "application/json",
          "user-agent": "Burrow-Webhooks/1",
          [WEBHOOK_EVENT_HEADER]: d.event,
          [WEBHOOK_DELIVERY_HEADER]: d.id,
          [WEBHOOK_SIGNATURE_HEADER]: signWebhook(this.o.secretOf(hook), Math.floor(started / 1000), body),
        },
        body,
      });
      await res.body?.cancel().catch(() => undefined);
      return { at, status: res.status, durationMs: this.o.now() - started };
    } catch (err) {
      const error = err instanceof Error && err.name === "TimeoutError" ? "timed out" : errorText(err);
      return { at, error, durationMs: this.o.now() - started };
    }
  }
}

function errorText(err: unknown): string {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : "";
  return (cause || (err instanceof Error ? err.message : String(err))).slice(0, 200);
}
