import { createServer, type Server } from "node:http";
import { createServer as createHttpsServer, type ServerOptions as HttpsOptions } from "node:https";
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
export function listen(app: App, config: ServerConfig): Promise<Listener> {
  return serve(createServer(app), app, "http", config.host, config.port);
}

/** Serves `app` over TLS (the same routes, previews and sandbox plane) on `host` and `port`. */
export function listenTls(app: App, host: string, port: number, options: HttpsOptions): Promise<Listener> {
  return serve(createHttpsServer(options, app), app, "https", host, port);
}

async function serve(server: Server, app: App, scheme: string, host: string, port: number): Promise<Listener> {
  server.on("upgrade", app.upgrade);
  server.keepAliveTimeout = 65_000;
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `${scheme}://${shown}:${address.port}`,
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
