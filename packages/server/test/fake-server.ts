import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "@burrow/core";
import { FakeRuntime } from "@burrow/runtime";
import { loadConfig, type ServerConfig } from "../src/config.js";
import { type RunningServer, type StartOptions, startServer } from "../src/server.js";

export interface FakeServer {
  server: RunningServer;
  runtime: FakeRuntime;
  dataDir: string;
  key: string;
  close(): Promise<void>;
}

/**
 * The real server (HTTP app, SQLite, services) on a free port with a fake runtime, a temporary
 * data dir holding an empty `base` template, no warm pool unless asked, no monitor loop, and no
 * HTTPS listener unless asked (`tls`).
 */
export async function startFakeServer(
  overrides: Partial<ServerConfig> = {},
  dataDir?: string,
  options: StartOptions & { runtime?: FakeRuntime } = {},
): Promise<FakeServer> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), "burrow-test-"));
  mkdirSync(join(dir, "templates", "base", "rootfs"), { recursive: true });
  const runtime = options.runtime ?? new FakeRuntime();
  const config: ServerConfig = {
    ...loadConfig({ BURROW_DATA_DIR: dir, BURROW_PORT: "0", BURROW_TLS_PORT: "off" }),
    monitorIntervalMs: 3_600_000,
    warmPool: {},
    ...overrides,
  };
  const server = await startServer(config, silentLogger, { ...options, runtime });
  return {
    server,
    runtime,
    dataDir: dir,
    key: readFileSync(server.adminKeyPath, "utf8").trim(),
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
