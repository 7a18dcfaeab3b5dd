#!/usr/bin/env node
import { BurrowError } from "@burrow/core";
import pino from "pino";
import { loadConfig } from "./config.js";
import { startServer } from "./server.js";

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = pino({
    level: config.logLevel,
    redact: {
      paths: ["*.authorization", "*.apiKey", "*.agentToken", "*.env", "*.value", "*.sealed"],
      censor: "[redacted]",
    },
  });
  const server = await startServer(config, logger);
  let banner = `Burrow listening on ${server.url}\nAdmin API key: ${server.adminKeyPath}\n`;
  if (server.https) {
    const ca = server.https.caPath ? `; clients trust the preview CA ${server.https.caPath}` : "";
    banner += `Burrow HTTPS on ${server.https.url} (sandbox hosts https://<port>-<id>.${server.https.domain}${ca})\n`;
  }
  // One write: whoever reads the first line gets the rest with it.
  process.stdout.write(banner);
  logger.info({ url: server.url, adminKeyPath: server.adminKeyPath, https: server.https }, "burrow server ready");

  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, "shutting down; sandboxes keep running");
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
}

main().catch((err: unknown) => {
  const message =
    err instanceof BurrowError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.stderr.write(`burrow: ${message}\n`);
  process.exit(1);
});
