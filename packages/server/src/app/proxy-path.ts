import { BurrowError, ErrorCode } from "@burrow/core";

/** A request path forwarded into a sandbox: as sent (raw) and percent-decoded. */
export interface ProxyPath {
  /** The path as the client sent it, without the query; forwarded unchanged. */
  raw: string;
  /** The path with every segment percent-decoded: what the service in the sandbox sees. */
  decoded: string;
  /** `?…` as sent, or "". */
  search: string;
}

function refuse(reason: string, message: string): BurrowError {
  return new BurrowError(ErrorCode.BadRequest, message, { details: { reason } });
}

/**
 * Checks the path of a request the server forwards into a sandbox (envd passthrough, the E2B
 * sandbox plane, preview ports), so a check on the path here sees what the sandbox's service
 * will see. Refused with 400: malformed percent-encoding, `.`/`..` segments (plain or encoded),
 * empty segments (`//`), and encoded `/`, `\` or NUL in a segment. `target` is the request
 * target as received (`req.url`), not a WHATWG-normalised URL.
 */
export function checkProxyPath(target: string): ProxyPath {
  const q = target.indexOf("?");
  const raw = q < 0 ? target : target.slice(0, q);
  const search = q < 0 ? "" : target.slice(q);
  if (!raw.startsWith("/"))
    throw refuse("not_absolute", `the request path must start with '/': '${raw.slice(0, 200)}'`);
  const segments = raw.slice(1).split("/");
  const decoded: string[] = [];
  segments.forEach((segment, i) => {
    let d: string;
    try {
      d = decodeURIComponent(segment);
    } catch {
      throw refuse("malformed_path", `the path holds malformed percent-encoding: '${raw.slice(0, 200)}'`);
    }
    if (segment === "" && i < segments.length - 1) {
      throw refuse("empty_segment", `the path has an empty segment ('//'): '${raw.slice(0, 200)}'`);
    }
    if (d === "." || d === "..") {
      throw refuse("dot_segment", `the path has a '.' or '..' segment: '${raw.slice(0, 200)}'`);
    }
    if (/[/\\\0]/.test(d)) {
      throw refuse("encoded_separator", `the path has an encoded '/', '\\' or NUL: '${raw.slice(0, 200)}'`);
    }
    decoded.push(d);
  });
  return { raw, decoded: `/${decoded.join("/")}`, search };
}

/**
 * The path of a request for a sandbox's own service (a preview port): forwarded exactly as sent,
 * since how it parses `//`, `%2F` or bad encoding is that service's business. `decoded` is a
 * best-effort decoding, used for nothing security-relevant.
 */
export function passthroughPath(target: string): ProxyPath {
  const q = target.indexOf("?");
  const raw = q < 0 ? target : target.slice(0, q);
  let decoded = raw;
  try {
    decoded = decodeURI(raw);
  } catch {
    // Malformed encoding goes to the service as sent.
  }
  return { raw, decoded, search: q < 0 ? "" : target.slice(q) };
}
