import { randomBytes } from "node:crypto";
import { isIP } from "node:net";
import {
  BurrowError,
  type CreatedWebhook,
  ErrorCode,
  prefixedId,
  type SandboxEvent,
  type Webhook,
  type WebhookDelivery,
} from "@burrow/core";
import type { SecretCipher } from "../secrets/secret-cipher.js";
import type { WebhookRecord, WebhookStore } from "../store/webhook-store.js";
import type { WebhookAddressPolicy } from "./blocked-addresses.js";
import type { WebhookDispatcher } from "./dispatcher.js";
import { eventMatches } from "./signature.js";

const MAX_WEBHOOKS = 100;
const MAX_URL_LENGTH = 2048;
const EVENT_PATTERN = /^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)$/;
/** Finished deliveries are kept this long in the delivery log. */
const DELIVERY_LOG_MS = 7 * 24 * 3_600_000;

const invalid = (field: string, message: string) =>
  new BurrowError(ErrorCode.ValidationFailed, message, { details: { field } });

export interface WebhookServiceDeps {
  store: WebhookStore;
  cipher: SecretCipher;
  now: () => number;
  addresses: WebhookAddressPolicy;
}

/** Webhooks: their settings, the events that go to them, and their delivery log. */
export class WebhookService {
  private dispatcher: WebhookDispatcher | undefined;
  /** The webhooks, read once and kept current by create and delete (events look them up often). */
  private hooks: Promise<WebhookRecord[]> | undefined;

  constructor(private readonly deps: WebhookServiceDeps) {}

  useDispatcher(dispatcher: WebhookDispatcher): void {
    this.dispatcher = dispatcher;
  }

  secretOf(hook: WebhookRecord): string {
    return this.deps.cipher.open(`webhook:${hook.id}`, hook.sealedSecret);
  }

  async create(url: string, events: string[] = ["*"]): Promise<CreatedWebhook> {
    const host = checkUrl(url);
    if (isIP(host.replace(/^\[|\]$/g, "")) && this.deps.addresses.blocked(host.replace(/^\[|\]$/g, ""))) {
      throw invalid("url", "webhooks cannot go to sandbox or link-local addresses");
    }
    if (events.length === 0 || events.length > 50) throw invalid("events", "events must list 1 to 50 event names");
    for (const e of events) {
      if (!EVENT_PATTERN.test(e)) {
        throw invalid("events", `'${e}' is not an event name (e.g. sandbox.hibernated, sandbox.*, *)`);
      }
    }
    if ((await this.all()).length >= MAX_WEBHOOKS) {
      throw new BurrowError(ErrorCode.Conflict, `at most ${MAX_WEBHOOKS} webhooks; delete one first`);
    }
    const id = prefixedId("wh", randomBytes);
    const secret = `whsec_${randomBytes(32).toString("base64url")}`;
    const record: WebhookRecord = {
      id,
      url,
      events: [...new Set(events)],
      sealedSecret: this.deps.cipher.seal(`webhook:${id}`, secret),
      createdAt: new Date(this.deps.now()).toISOString(),
    };
    await this.deps.store.insert(record);
    this.hooks = undefined;
    return { ...toWebhook(record), secret };
  }

  async list(): Promise<Webhook[]> {
    return (await this.all()).map(toWebhook);
  }

  async get(id: string): Promise<Webhook> {
    return toWebhook(await this.record(id));
  }

  async delete(id: string): Promise<void> {
    if (!(await this.deps.store.delete(id))) throw notFound(id);
    this.hooks = undefined;
  }

  /** Queues a `webhook.test` delivery to one webhook, whatever its filter; answers it. */
  async test(id: string): Promise<WebhookDelivery> {
    const hook = await this.record(id);
    const [delivery] = this.deliveriesFor([hook], "webhook.test", undefined, { message: "a test delivery" });
    await this.deps.store.enqueue([delivery as WebhookDelivery]);
    this.dispatcher?.kick();
    return delivery as WebhookDelivery;
  }

  async deliveries(id: string, limit = 50): Promise<WebhookDelivery[]> {
    await this.record(id);
    return this.deps.store.deliveries(id, Math.min(Math.max(limit, 1), 500));
  }

  /** Queues `event` for every webhook whose filter matches it. */
  async publish(event: string, sandboxId: string | undefined, data: Record<string, unknown>): Promise<void> {
    const hooks = (await this.all()).filter((h) => h.events.some((p) => eventMatches(p, event)));
    if (hooks.length === 0) return;
    await this.deps.store.enqueue(this.deliveriesFor(hooks, event, sandboxId, data));
    this.dispatcher?.kick();
  }

  /** A sandbox event as `sandbox.<type>`. */
  publishSandboxEvent(e: SandboxEvent): Promise<void> {
    return this.publish(`sandbox.${e.type}`, e.sandboxId, {
      type: e.type,
      ...(e.from ? { from: e.from } : {}),
      ...(e.to ? { to: e.to } : {}),
      reason: e.reason,
      ...(e.durationMs === undefined ? {} : { durationMs: e.durationMs }),
    });
  }

  /** Drops finished deliveries older than the delivery log keeps. */
  prune(): Promise<number> {
    return this.deps.store.prune(new Date(this.deps.now() - DELIVERY_LOG_MS).toISOString());
  }

  private deliveriesFor(
    hooks: WebhookRecord[],
    event: string,
    sandboxId: string | undefined,
    data: Record<string, unknown>,
  ): WebhookDelivery[] {
    const at = new Date(this.deps.now()).toISOString();
    return hooks.map((h) => {
      const id = prefixedId("whd", randomBytes);
      return {
        id,
        webhookId: h.id,
        event,
        ...(sandboxId === undefined ? {} : { sandboxId }),
        status: "pending",
        createdAt: at,
        attempts: [],
        payload: { id, event, at, ...(sandboxId === undefined ? {} : { sandboxId }), data },
      };
    });
  }

  private all(): Promise<WebhookRecord[]> {
    if (!this.hooks) {
      this.hooks = this.deps.store.list();
      this.hooks.catch(() => {
        this.hooks = undefined;
      });
    }
    return this.hooks;
  }

  private async record(id: string): Promise<WebhookRecord> {
    const hook = await this.deps.store.get(id);
    if (!hook) throw notFound(id);
    return hook;
  }
}

function notFound(id: string): BurrowError {
  return new BurrowError(ErrorCode.WebhookNotFound, `webhook ${id} not found`, { details: { webhookId: id } });
}

function toWebhook(r: WebhookRecord): Webhook {
  return { id: r.id, url: r.url, events: r.events, createdAt: r.createdAt };
}

/** Checks the URL's form; answers its host. */
function checkUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid("url", `'${url.slice(0, 100)}' is not a URL`);
  }
  if (url.length > MAX_URL_LENGTH) throw invalid("url", `the URL is longer than ${MAX_URL_LENGTH} characters`);
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
    throw invalid("url", "the URL must be http or https");
  if (parsed.username || parsed.password) {
    throw invalid("url", "the URL must not carry credentials; check the signature header instead");
  }
  return parsed.hostname;
}
