/**
 * Webhooks: Burrow POSTs each event that matches a webhook's filter to its URL, signed with the
 * webhook's secret. Event names: `sandbox.<type>` for every sandbox event (`sandbox.created`,
 * `sandbox.hibernated`, `sandbox.checkpointed`, `sandbox.egress_denied`, …) and
 * `template.build.ready` / `template.build.failed`; `webhook.test` for a test delivery.
 */
export interface Webhook {
  id: string;
  url: string;
  /** Event names or patterns ending in `*` (`sandbox.*`, `*`); an event matching any is sent. */
  events: string[];
  createdAt: string;
}

/** Answered once, at create: the secret that signs deliveries is never shown again. */
export interface CreatedWebhook extends Webhook {
  secret: string;
}

export interface CreateWebhookRequest {
  url: string;
  events?: string[];
}

/** What is POSTed to the URL (as JSON). */
export interface WebhookPayload {
  /** The delivery's id: the same on every retry of it (receivers can drop duplicates). */
  id: string;
  event: string;
  at: string;
  sandboxId?: string;
  data: Record<string, unknown>;
}

export type WebhookDeliveryStatus = "pending" | "delivered" | "failed";

export interface WebhookAttempt {
  at: string;
  /** The HTTP status answered, absent when there was no answer (refused, timed out). */
  status?: number;
  error?: string;
  durationMs: number;
}

export interface WebhookDelivery {
  id: string;
  webhookId: string;
  event: string;
  sandboxId?: string;
  status: WebhookDeliveryStatus;
  createdAt: string;
  /** When the next attempt is due (pending only). */
  nextAttemptAt?: string;
  attempts: WebhookAttempt[];
  payload: WebhookPayload;
}

/** The signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by the secret>`. */
export const WEBHOOK_SIGNATURE_HEADER = "burrow-signature";
export const WEBHOOK_EVENT_HEADER = "burrow-event";
export const WEBHOOK_DELIVERY_HEADER = "burrow-delivery";
