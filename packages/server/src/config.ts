import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { BurrowError, DEFAULT_PORT, DEFAULT_TEMPLATE_TAG, ErrorCode, parseTemplateRef } from "@burrow/core";
import { z } from "zod";
import { DEFAULT_HOST_CA_DIR } from "./root/host-cas.js";
import { type BlobStoreConfig, parseBlobUrl } from "./store/blob-url.js";

export interface ServerConfig {
  host: string;
  port: number;
  dataDir: string;
  templatesDir: string;
  agentBinaryPath: string;
  /** burrow-shim binary; when missing, runsc runs as a direct child (slower teardown). */
  shimPath: string;
  /** burrow-capture binary: copies a checkpoint's changed files; when missing, the server does it itself (slower). */
  captureToolPath: string;
  runscPath: string;
  logLevel: "debug" | "info" | "warn" | "error" | "silent";
  /** Interval of the check that notices sandboxes whose runsc process died. */
  monitorIntervalMs: number;
  /** Interval of the sleep policy (standby, hibernation, deleteAfter). */
  lifecycleTickMs: number;
  /** Warm pool size per template. */
  warmPool: Record<string, number>;
  /** First two octets of the /16 that sandbox networks are carved from. */
  networkPrefix: string;
  /** Domain of preview hosts (`<port>-<id>.<domain>`); default `localhost:<port>`. */
  previewDomain?: string;
  /** Resolver the egress proxies ask ("ip" or "ip:port"); default the host's first nameserver. */
  dnsUpstream?: string;
  /** Key that seals stored secrets (32 bytes); default a random key kept in `<dataDir>/secrets.key`. */
  secretsKeyHex?: string;
  /**
   * PEM file of extra CAs the egress proxy trusts when it opens HTTPS to a host on a sandbox's
   * behalf (credential brokering), besides Node's bundled roots.
   */
  egressUpstreamCaFile?: string;
  /**
   * Where the host keeps CAs its administrator added (`*.crt`, Debian's layout), trusted by
   * sandboxes and the egress proxies; undefined when BURROW_TRUST_HOST_CAS=0.
   */
  hostCaDir?: string;
  /** How runsc compresses memory images of checkpoints and hibernation. */
  checkpointCompression: "none" | "flate-best-speed";
  /** The built dashboard served at `/` (default packages/dashboard/dist; not served when missing). */
  dashboardDir?: string;
  /** A bearer token that reads `/metrics` (besides any API key), for a Prometheus scraper. */
  metricsToken?: string;
  /** Where checkpoint blobs are kept: `<dataDir>/blobs` unless BURROW_BLOB_URL names an S3 bucket. */
  blobStore: BlobStoreConfig;
  /** Webhook delivery: the waits between retries and the time an endpoint gets (defaults in webhooks/dispatcher.ts). */
  webhooks?: { retryDelaysMs?: number[]; timeoutMs?: number; pollMs?: number };
  /** The HTTPS listener for sandbox hosts (`https://<port>-<id>.<domain>`); absent when BURROW_TLS_PORT=off. */
  tls?: TlsConfig;
}

export interface TlsConfig {
  /** Port of the HTTPS listener (on `host`); 0 picks a free one. */
  port: number;
  /**
   * PEM files of a certificate covering `domain` and `*.domain`, and its key. Without them the
   * server's preview CA (`<dataDir>/preview-ca`) issues certificates for `localhost` names.
   */
  certFile?: string;
  keyFile?: string;
  /** Domain (optionally `:port`) of sandbox hosts over HTTPS; default `localhost:<listening port>`. */
  domain?: string;
}

/** The HTTPS listener's port when BURROW_TLS_PORT is not set (0 when BURROW_PORT is 0). */
export const DEFAULT_TLS_PORT = 7443;

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const agentBinDir = join(packageRoot, "agent", "bin");
/** Where `npm start` builds the dashboard. */
export const DEFAULT_DASHBOARD_DIR = join(packageRoot, "dashboard", "dist");

const intFromEnv = (name: string, min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `${name} must be a whole number`)
    .transform(Number)
    .pipe(z.number().int().min(min, `${name} must be ≥ ${min}`).max(max, `${name} must be ≤ ${max}`));

const EnvSchema = z.object({
  BURROW_HOST: z.string().min(1).default("127.0.0.1"),
  BURROW_PORT: intFromEnv("BURROW_PORT", 0, 65535).optional(),
  BURROW_DATA_DIR: z.string().min(1).optional(),
  BURROW_TEMPLATES_DIR: z.string().min(1).optional(),
  BURROW_AGENT_BINARY: z.string().min(1).optional(),
  BURROW_SHIM_BINARY: z.string().min(1).optional(),
  BURROW_CAPTURE_BINARY: z.string().min(1).optional(),
  BURROW_DASHBOARD_DIR: z.string().min(1).optional(),
  BURROW_RUNSC: z.string().min(1).default("runsc"),
  BURROW_LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
  BURROW_MONITOR_INTERVAL_MS: intFromEnv("BURROW_MONITOR_INTERVAL_MS", 100, 3_600_000).optional(),
  BURROW_NETWORK_PREFIX: z
    .string()
    .regex(
      /^(25[0-5]|2[0-4]\d|1?\d?\d)\.(25[0-5]|2[0-4]\d|1?\d?\d)$/,
      "BURROW_NETWORK_PREFIX must be two octets like 10.200",
    )
    .default("10.200"),
  BURROW_PREVIEW_DOMAIN: z
    .string()
    .regex(/^[a-z0-9.-]+(:\d{1,5})?$/i, "BURROW_PREVIEW_DOMAIN must be a domain, optionally with :port")
    .optional(),
  BURROW_TLS_PORT: z
    .union([z.literal("off"), intFromEnv("BURROW_TLS_PORT", 0, 65535)], {
      message: "BURROW_TLS_PORT must be a port number (0 for any free one) or 'off'",
    })
    .optional(),
  BURROW_TLS_CERT: z.string().min(1).optional(),
  BURROW_TLS_KEY: z.string().min(1).optional(),
  BURROW_TLS_DOMAIN: z
    .string()
    .regex(/^[a-z0-9.-]+(:\d{1,5})?$/i, "BURROW_TLS_DOMAIN must be a domain, optionally with :port")
    .optional(),
  BURROW_DNS_UPSTREAM: z
    .string()
    .regex(/^\d+\.\d+\.\d+\.\d+(:\d{1,5})?$/, "BURROW_DNS_UPSTREAM must be an IPv4 address, optionally with :port")
    .optional(),
  BURROW_SECRETS_KEY: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, "BURROW_SECRETS_KEY must be 64 hex digits (a 32-byte key)")
    .optional(),
  BURROW_EGRESS_UPSTREAM_CA: z.string().min(1).optional(),
  BURROW_METRICS_TOKEN: z.string().min(16, "BURROW_METRICS_TOKEN must be at least 16 characters").optional(),
  BURROW_TRUST_HOST_CAS: z.enum(["0", "1"], { message: "BURROW_TRUST_HOST_CAS must be 0 or 1" }).default("1"),
  BURROW_HOST_CA_DIR: z.string().min(1).optional(),
  BURROW_CHECKPOINT_COMPRESSION: z.enum(["none", "flate-best-speed"]).default("flate-best-speed"),
  BURROW_LIFECYCLE_TICK_MS: intFromEnv("BURROW_LIFECYCLE_TICK_MS", 50, 60_000).optional(),
  BURROW_BLOB_URL: z.string().optional(),
  BURROW_BLOB_CACHE_MB: intFromEnv("BURROW_BLOB_CACHE_MB", 0, 100_000_000).optional(),
  BURROW_WARM_POOL: z
    .string()
    .refine(
      (spec) =>
        spec === "" ||
        spec.split(",").every((part) => {
          const m = /^([^=]+)=(\d{1,3})$/.exec(part);
          return m !== null && warmPoolKey(m[1] as string) !== undefined;
        }),
      "BURROW_WARM_POOL must look like 'base=2' or 'base=2,myapp=1,myapp:dev=1' (template name[:tag]=size; empty for none)",
    )
    .optional(),
});

/**
 * The warm pool a template reference draws from: `name` for `name` and `name:latest`,
 * `name:tag` for other tags; undefined for what is not a `name[:tag]` (e.g. a version id).
 */
export function warmPoolKey(ref: string): string | undefined {
  const parsed = parseTemplateRef(ref);
  if (!parsed) return undefined;
  return parsed.tag === DEFAULT_TEMPLATE_TAG ? parsed.name : `${parsed.name}:${parsed.tag}`;
}

function parsePool(spec: string | undefined): Record<string, number> {
  if (spec === undefined) return { base: 2 };
  const sizes: Record<string, number> = {};
  for (const part of spec.split(",").filter(Boolean)) {
    const [ref, size] = part.split("=");
    sizes[warmPoolKey(ref as string) as string] = Number(size);
  }
  return sizes;
}

/** The HTTPS listener's settings, checked together: a certificate for another domain than localhost must be given. */
function tlsConfig(e: z.infer<typeof EnvSchema>): TlsConfig | undefined {
  if (e.BURROW_TLS_PORT === "off") return undefined;
  const port = e.BURROW_TLS_PORT ?? (e.BURROW_PORT === 0 ? 0 : DEFAULT_TLS_PORT);
  const invalid = (message: string) => new BurrowError(ErrorCode.ValidationFailed, `invalid configuration: ${message}`);
  if ((e.BURROW_TLS_CERT === undefined) !== (e.BURROW_TLS_KEY === undefined)) {
    throw invalid("BURROW_TLS_CERT and BURROW_TLS_KEY go together (a certificate's PEM file and its key's)");
  }
  const domain = e.BURROW_TLS_DOMAIN?.toLowerCase();
  if (e.BURROW_TLS_CERT !== undefined) {
    if (domain === undefined) {
      throw invalid("BURROW_TLS_DOMAIN must name the domain BURROW_TLS_CERT is for (its sandbox hosts are *.DOMAIN)");
    }
    return {
      port,
      certFile: resolve(e.BURROW_TLS_CERT),
      keyFile: resolve(e.BURROW_TLS_KEY as string),
      domain,
    };
  }
  const name = domain?.replace(/:\d+$/, "");
  if (name !== undefined && name !== "localhost" && !name.endsWith(".localhost")) {
    throw invalid(
      `BURROW_TLS_DOMAIN=${domain} needs BURROW_TLS_CERT and BURROW_TLS_KEY (a certificate for ${name} and *.${name}); without them Burrow's preview CA issues certificates for localhost names only`,
    );
  }
  return { port, ...(domain ? { domain } : {}) };
}

/** Reads the server's configuration from environment variables, once, in main. */
export function loadConfig(env: Record<string, string | undefined>): ServerConfig {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new BurrowError(
      ErrorCode.ValidationFailed,
      `invalid configuration: ${issue?.path.join(".") ?? "?"}: ${issue?.message ?? "invalid"}`,
    );
  }
  const e = parsed.data;
  const dataDir = resolve(e.BURROW_DATA_DIR ?? join(homedir(), ".burrow"));
  const tls = tlsConfig(e);
  return {
    host: e.BURROW_HOST,
    port: e.BURROW_PORT ?? DEFAULT_PORT,
    dataDir,
    templatesDir: resolve(e.BURROW_TEMPLATES_DIR ?? join(dataDir, "templates")),
    agentBinaryPath: resolve(e.BURROW_AGENT_BINARY ?? join(agentBinDir, "burrow-agent")),
    shimPath: resolve(e.BURROW_SHIM_BINARY ?? join(agentBinDir, "burrow-shim")),
    captureToolPath: resolve(e.BURROW_CAPTURE_BINARY ?? join(agentBinDir, "burrow-capture")),
    runscPath: e.BURROW_RUNSC,
    logLevel: e.BURROW_LOG_LEVEL,
    monitorIntervalMs: e.BURROW_MONITOR_INTERVAL_MS ?? 5_000,
    lifecycleTickMs: e.BURROW_LIFECYCLE_TICK_MS ?? 1_000,
    warmPool: parsePool(e.BURROW_WARM_POOL),
    networkPrefix: e.BURROW_NETWORK_PREFIX,
    checkpointCompression: e.BURROW_CHECKPOINT_COMPRESSION,
    dashboardDir: resolve(e.BURROW_DASHBOARD_DIR ?? DEFAULT_DASHBOARD_DIR),
    blobStore: parseBlobUrl(e.BURROW_BLOB_URL, env, join(dataDir, "blobs"), {
      dir: join(dataDir, "blob-cache"),
      maxBytes: (e.BURROW_BLOB_CACHE_MB ?? 2048) * 1024 * 1024,
    }),
    ...(e.BURROW_PREVIEW_DOMAIN ? { previewDomain: e.BURROW_PREVIEW_DOMAIN.toLowerCase() } : {}),
    ...(e.BURROW_DNS_UPSTREAM ? { dnsUpstream: e.BURROW_DNS_UPSTREAM } : {}),
    ...(e.BURROW_SECRETS_KEY ? { secretsKeyHex: e.BURROW_SECRETS_KEY } : {}),
    ...(e.BURROW_METRICS_TOKEN ? { metricsToken: e.BURROW_METRICS_TOKEN } : {}),
    ...(e.BURROW_EGRESS_UPSTREAM_CA ? { egressUpstreamCaFile: resolve(e.BURROW_EGRESS_UPSTREAM_CA) } : {}),
    ...(e.BURROW_TRUST_HOST_CAS === "1" ? { hostCaDir: resolve(e.BURROW_HOST_CA_DIR ?? DEFAULT_HOST_CA_DIR) } : {}),
    ...(tls ? { tls } : {}),
  };
}

export function shimAvailable(config: ServerConfig): boolean {
  return existsSync(config.shimPath);
}
