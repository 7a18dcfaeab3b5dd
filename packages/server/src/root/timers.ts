import type { Logger } from "@burrow/core";
import type { ServerConfig } from "../config.js";
import type { LifecycleService } from "../services/lifecycle.js";
import type { SandboxService } from "../services/sandbox-service.js";
import type { WebhookService } from "../webhooks/webhook-service.js";

/** How often finished webhook deliveries past the log's keep time are dropped. */
const WEBHOOK_PRUNE_MS = 3_600_000;

/**
 * The server's periodic work: the monitor (sandboxes whose runsc process died become `error`)
 * and the lifecycle tick (idle sandboxes sleep; those past `deleteAfterMs` are deleted, through
 * the same delete as every other path); and the hourly trim of the webhook delivery log.
 * Returns the function that stops them.
 */
export function startTimers(
  config: ServerConfig,
  logger: Logger,
  services: { sandboxes: SandboxService; lifecycle: LifecycleService; webhooks: WebhookService },
): () => void {
  const { sandboxes, lifecycle, webhooks } = services;
  const prune = () => {
    webhooks.prune().catch((err: unknown) => logger.warn({ err: String(err) }, "webhook log trim failed"));
  };
  prune();
  const pruner = setInterval(prune, WEBHOOK_PRUNE_MS);
  pruner.unref();
  const monitor = setInterval(() => {
    sandboxes.checkAll().catch((err: unknown) => logger.warn({ err: String(err) }, "sandbox check failed"));
  }, config.monitorIntervalMs);
  monitor.unref();
  let ticking = false;
  const ticker = setInterval(() => {
    if (ticking) return;
    ticking = true;
    lifecycle
      .tick((id) => sandboxes.delete(id))
      .catch((err: unknown) => logger.warn({ err: String(err) }, "lifecycle tick failed"))
      .finally(() => {
        ticking = false;
      });
  }, config.lifecycleTickMs);
  ticker.unref();
  return () => {
    clearInterval(monitor);
    clearInterval(ticker);
    clearInterval(pruner);
  };
}
