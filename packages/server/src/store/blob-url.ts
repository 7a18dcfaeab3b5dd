import { inspect } from "node:util";
import { BurrowError, ErrorCode } from "@burrow/core";

/** A credential that prints as `[redacted]` in logs, JSON and util.inspect; `reveal()` gives it. */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toJSON(): string {
    return "[redacted]";
  }
  toString(): string {
    return "[redacted]";
  }
  [inspect.custom](): string {
    return "[redacted]";
  }
}

export interface S3BlobConfig {
  kind: "s3";
  bucket: string;
  /** Key prefix inside the bucket ("" or ending in "/"); blobs are `<prefix>blobs/<sha256>`. */
  prefix: string;
  /** S3 service URL; undefined means AWS's endpoint for `region`. */
  endpoint?: string;
  region: string;
  /** `http://endpoint/bucket/key` rather than `http://bucket.endpoint/key` (Swift, MinIO, Ceph). */
  forcePathStyle: boolean;
  accessKeyId: string;
  secretAccessKey: Secret;
  sessionToken?: Secret;
  /** The node's local read cache of blobs. */
  cacheDir: string;
  /** 0 turns the cache off. */
  cacheMaxBytes: number;
}

/** Where content-addressed blobs (checkpoint chunks and manifests) are kept. */
export type BlobStoreConfig = { kind: "local"; dir: string } | S3BlobConfig;

const USAGE =
  "BURROW_BLOB_URL must look like s3://bucket[/prefix]?endpoint=http://host:port&region=us-east-1 " +
  "(optional: path_style=0|1, credentials as s3://ACCESS_KEY:SECRET@bucket or in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)";
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PARAMS = new Set(["endpoint", "region", "path_style"]);

function invalid(why: string): BurrowError {
  // The URL itself is never echoed: it may carry a secret.
  return new BurrowError(ErrorCode.ValidationFailed, `invalid configuration: ${why}; ${USAGE}`);
}

/**
 * Reads BURROW_BLOB_URL. Unset: the local directory `localDir`. `s3://…`: an S3 bucket, with
 * credentials from the URL's user info or else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
 * (AWS_SESSION_TOKEN optional). Instance or container credential endpoints are never asked.
 */
export function parseBlobUrl(
  value: string | undefined,
  env: Record<string, string | undefined>,
  localDir: string,
  cache: { dir: string; maxBytes: number },
): BlobStoreConfig {
  if (value === undefined || value === "") return { kind: "local", dir: localDir };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid("BURROW_BLOB_URL is not a URL");
  }
  if (url.protocol !== "s3:") throw invalid(`BURROW_BLOB_URL has scheme '${url.protocol}', not 's3:'`);
  const bucket = url.hostname;
  if (!BUCKET.test(bucket)) throw invalid(`'${bucket}' is not an S3 bucket name`);
  for (const key of url.searchParams.keys()) {
    if (!PARAMS.has(key)) throw invalid(`BURROW_BLOB_URL has an unknown parameter '${key}'`);
  }
  const endpoint = url.searchParams.get("endpoint") ?? undefined;
  if (endpoint !== undefined && !/^https?:\/\/[^/?#]+\/?$/.test(endpoint)) {
    throw invalid("the endpoint parameter must be an http(s)://host[:port] URL");
  }
  const pathStyle = url.searchParams.get("path_style");
  if (pathStyle !== null && pathStyle !== "0" && pathStyle !== "1") throw invalid("path_style must be 0 or 1");
  const region = url.searchParams.get("region") || "us-east-1";
  if (!/^[a-z0-9-]+$/.test(region)) throw invalid(`'${region}' is not a region name`);
  let prefix: string;
  try {
    prefix = decodeURIComponent(url.pathname).replace(/^\/+/, "");
  } catch {
    throw invalid("the prefix in BURROW_BLOB_URL is not valid percent-encoding");
  }
  if (prefix !== "" && !prefix.endsWith("/")) prefix += "/";

  let user: string;
  let password: string;
  try {
    user = decodeURIComponent(url.username);
    password = decodeURIComponent(url.password);
  } catch {
    throw invalid("the credentials in BURROW_BLOB_URL are not valid percent-encoding");
  }
  if ((user === "") !== (password === "")) throw invalid("BURROW_BLOB_URL names an access key without a secret");
  const accessKeyId = user || env.AWS_ACCESS_KEY_ID;
  const secret = password || env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secret) {
    throw invalid("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or put them in the URL");
  }
  const sessionToken = user ? undefined : env.AWS_SESSION_TOKEN;
  return {
    kind: "s3",
    bucket,
    prefix,
    ...(endpoint === undefined ? {} : { endpoint: endpoint.replace(/\/$/, "") }),
    region,
    forcePathStyle: pathStyle === null ? endpoint !== undefined : pathStyle === "1",
    accessKeyId,
    secretAccessKey: new Secret(secret),
    ...(sessionToken ? { sessionToken: new Secret(sessionToken) } : {}),
    cacheDir: cache.dir,
    cacheMaxBytes: cache.maxBytes,
  };
}
