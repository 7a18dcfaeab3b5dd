import type { Logger } from "@burrow/core";
import type { ServerConfig } from "../config.js";
import type { LifecycleService } from "../services/lifecycle.js";
import type { SandboxService } from "../services/sandbox-service.js";

/**
 * The server's periodic work: the monitor (sandboxes whose runsc process died become `error`)
 * and the lifecycle tick (idle sandboxes sleep; those past `deleteAfterMs` are deleted, through
 * the same delete as every other path). Returns the function that stops both.
 */
export function startTimers(
  config: ServerConfig,
  logger: Logger,
  services: { sandboxes: SandboxService; lifecycle: LifecycleService },
): () => void {
  const { sandboxes, lifecycle } = services;
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
  };
}
