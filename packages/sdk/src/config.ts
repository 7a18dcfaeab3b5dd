/**
 * Connection settings. Each value resolves option → `BURROW_*` environment variable → default;
 * the default API key is read from `<BURROW_DATA_DIR or ~/.burrow>/admin-key`, in Node only.
 */
import { DEFAULT_API_URL, ErrorCode } from "@burrow/core";
import { InvalidArgumentError } from "./errors.js";

export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

export interface ConnectionOptions {
  /** Base URL of the Burrow server; env `BURROW_API_URL`; default `http://127.0.0.1:7070`. */
  apiUrl?: string;
  /** API key; env `BURROW_API_KEY`; default: the server's admin-key file (Node only). */
  apiKey?: string;
  /** Limit for each plain request, and for a stream until its first message. 0 disables. */
  requestTimeoutMs?: number;
  /** fetch implementation; default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /**
   * Domain of preview hosts (`<port>-<id>.<domain>`), as the server's BURROW_PREVIEW_DOMAIN;
   * env `BURROW_PREVIEW_DOMAIN`; default `localhost:<port>` for a local API URL, else its host.
   */
  previewDomain?: string;
}

export interface ResolvedConfig {
  apiUrl: string;
  apiKey: string | undefined;
  /** Where the key came from, for error messages. */
  apiKeySource: "option" | "env" | "file" | "none";
  /** The admin-key file that was looked for (Node only). */
  adminKeyPath: string | undefined;
  requestTimeoutMs: number;
  fetch: typeof fetch;
  previewDomain: string;
}

export type Env = Readonly<Record<string, string | undefined>>;

/** What config resolution reads from its surroundings; injectable for tests. */
export interface ConfigSources {
  env: Env;
  /** Home directory, or undefined outside Node. */
  homeDir: string | undefined;
  /** Reads a text file; resolves undefined when it does not exist. */
  readFile: ((path: string) => Promise<string | undefined>) | undefined;
}

function isNode(): boolean {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof proc?.versions?.node === "string";
}

/** Reads the real environment: `process.env` and the filesystem in Node, nothing in browsers. */
export async function defaultConfigSources(): Promise<ConfigSources> {
  if (!isNode()) return { env: {}, homeDir: undefined, readFile: undefined };
  // Specifiers held in variables keep browser bundlers from trying to resolve node built-ins.
  const fsSpecifier = "node:fs/promises";
  const osSpecifier = "node:os";
  const fs = (await import(/* @vite-ignore */ fsSpecifier)) as typeof import("node:fs/promises");
  const os = (await import(/* @vite-ignore */ osSpecifier)) as typeof import("node:os");
  return {
    env: process.env,
    homeDir: os.homedir(),
    readFile: async (path) => {
      try {
        return await fs.readFile(path, "utf8");
      } catch (err) {
        if ((err as { code?: string }).code === "ENOENT") return undefined;
        throw err;
      }
    },
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed === "" ? undefined : trimmed;
}

function joinPath(dir: string, name: string): string {
  return dir.endsWith("/") || dir.endsWith("\\") ? `${dir}${name}` : `${dir}/${name}`;
}

/** Where the server keeps its admin key: `<BURROW_DATA_DIR or ~/.burrow>/admin-key`. */
export function adminKeyPath(env: Env, homeDir: string | undefined): string | undefined {
  const dataDir = nonEmpty(env.BURROW_DATA_DIR) ?? (homeDir === undefined ? undefined : joinPath(homeDir, ".burrow"));
  return dataDir === undefined ? undefined : joinPath(dataDir, "admin-key");
}

function parseTimeout(value: number | undefined): number {
  if (value === undefined) return DEFAULT_REQUEST_TIMEOUT_MS;
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`requestTimeoutMs must be a non-negative number, got ${value}`);
  }
  return value;
}

/** The server's default preview domain seen from its API URL. */
export function defaultPreviewDomain(apiUrl: string): string {
  const url = new URL(apiUrl);
  const local = ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  return local ? `localhost:${port}` : url.host;
}

export async function resolveConfig(options: ConnectionOptions = {}, sources?: ConfigSources): Promise<ResolvedConfig> {
  const src = sources ?? (await defaultConfigSources());
  const apiUrl = (nonEmpty(options.apiUrl) ?? nonEmpty(src.env.BURROW_API_URL) ?? DEFAULT_API_URL).replace(/\/+$/, "");
  if (!/^https?:\/\/[^/]/.test(apiUrl)) {
    throw new InvalidArgumentError(
      ErrorCode.BadRequest,
      `API URL '${apiUrl}' is not an http(s) URL; pass apiUrl or set BURROW_API_URL, e.g. ${DEFAULT_API_URL}`,
    );
  }
  const keyPath = adminKeyPath(src.env, src.homeDir);
  let apiKey = nonEmpty(options.apiKey);
  let apiKeySource: ResolvedConfig["apiKeySource"] = "option";
  if (apiKey === undefined) {
    apiKey = nonEmpty(src.env.BURROW_API_KEY);
    apiKeySource = "env";
  }
  if (apiKey === undefined && keyPath !== undefined && src.readFile !== undefined) {
    apiKey = nonEmpty(await src.readFile(keyPath));
    apiKeySource = "file";
  }
  if (apiKey === undefined) apiKeySource = "none";
  const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  return {
    apiUrl,
    apiKey,
    apiKeySource,
    adminKeyPath: keyPath,
    requestTimeoutMs: parseTimeout(options.requestTimeoutMs),
    fetch: fetchImpl,
    previewDomain:
      nonEmpty(options.previewDomain) ?? nonEmpty(src.env.BURROW_PREVIEW_DOMAIN) ?? defaultPreviewDomain(apiUrl),
  };
}
