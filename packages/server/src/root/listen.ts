import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { App } from "../app/app.js";
import type { ServerConfig } from "../config.js";

export interface Listener {
  url: string;
  port: number;
  /** Stops accepting; open connections get 2 s to finish, then are closed. */
  close(): Promise<void>;
}

/** Serves `app` (and its WebSocket upgrades) on the configured host and port. */
export async function listen(app: App, config: ServerConfig): Promise<Listener> {
  const server: Server = createServer(app);
  server.on("upgrade", app.upgrade);
  server.keepAliveTimeout = 65_000;
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    async close() {
      server.closeIdleConnections();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        setTimeout(() => {
          server.closeAllConnections();
        }, 2_000).unref();
      });
    },
  };
}
