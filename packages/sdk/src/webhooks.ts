/** Webhooks: where the server pushes sandbox and build events, and how a receiver checks them. */
import type { CreatedWebhook, Webhook, WebhookDelivery } from "@burrow/core";
import { type ConnectionOptions, resolveConfig } from "./config.js";
import { NotFoundError } from "./errors.js";
import { ApiClient, type RequestOptions } from "./http.js";

export interface WebhookApiOptions extends ConnectionOptions, RequestOptions {}

const hookPath = (id: string, rest = "") => `/v1/webhooks/${encodeURIComponent(id)}${rest}`;

export const Webhooks = {
  /**
   * Adds a webhook for `events` (names or patterns ending in `*`; default every event). The
   * answer holds the signing secret; it is never shown again.
   */
  async create(url: string, opts: WebhookApiOptions & { events?: string[] } = {}): Promise<CreatedWebhook> {
    const api = new ApiClient(await resolveConfig(opts));
    return api.json<CreatedWebhook>(
      { method: "POST", path: "/v1/webhooks", json: { url, ...(opts.events ? { events: opts.events } : {}) } },
      opts,
      `creating a webhook for ${url}`,
    );
  },

  async list(opts: WebhookApiOptions = {}): Promise<Webhook[]> {
    const api = new ApiClient(await resolveConfig(opts));
    return (await api.json<{ webhooks: Webhook[] }>({ method: "GET", path: "/v1/webhooks" }, opts, "listing webhooks"))
      .webhooks;
  },

  /** Deletes a webhook and its pending deliveries; false when there was none. */
  async delete(id: string, opts: WebhookApiOptions = {}): Promise<boolean> {
    const api = new ApiClient(await resolveConfig(opts));
    try {
      await api.empty({ method: "DELETE", path: hookPath(id) }, opts, `deleting webhook ${id}`);
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  },

  /** Queues a `webhook.test` delivery to the webhook; answers the delivery. */
  async test(id: string, opts: WebhookApiOptions = {}): Promise<WebhookDelivery> {
    const api = new ApiClient(await resolveConfig(opts));
    return api.json<WebhookDelivery>({ method: "POST", path: hookPath(id, "/test") }, opts, `testing webhook ${id}`);
  },

  /** The webhook's deliveries, newest first, each with its attempts. */
  async deliveries(id: string, opts: WebhookApiOptions & { limit?: number } = {}): Promise<WebhookDelivery[]> {
    const api = new ApiClient(await resolveConfig(opts));
    return (
      await api.json<{ deliveries: WebhookDelivery[] }>(
        { method: "GET", path: hookPath(id, "/deliveries"), query: { limit: opts.limit } },
        opts,
        `listing deliveries of webhook ${id}`,
      )
    ).deliveries;
  },
};

/**
 * Checks a delivery's `burrow-signature` header (`t=…,v1=…`) against the raw request body with
 * the webhook's secret, and refuses a timestamp more than `toleranceS` (default 300) from now.
 * Uses Web Crypto, so it runs in Node and in browsers.
 */
export async function verifyWebhookSignature(
  secret: string,
  header: string,
  body: string,
  opts: { toleranceS?: number; nowS?: number } = {},
): Promise<boolean> {
  const fields = new Map(header.split(",").map((p) => p.split("=", 2) as [string, string]));
  const t = Number(fields.get("t"));
  const v1 = fields.get("v1") ?? "";
  const now = opts.nowS ?? Math.floor(Date.now() / 1000);
  if (!Number.isInteger(t) || Math.abs(now - t) > (opts.toleranceS ?? 300) || !/^[0-9a-f]{64}$/.test(v1)) return false;
  const enc = new TextEncoder();
  const key = await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "verify",
  ]);
  const mac = new Uint8Array(v1.match(/../g)?.map((h) => Number.parseInt(h, 16)) ?? []);
  return crypto.subtle.verify("HMAC", key, mac, enc.encode(`${t}.${body}`));
}
