import { createReadStream, existsSync, statSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join, resolve, sep } from "node:path";

/**
 * The page's own scripts, styles and API only: an injected script could not run or send a key
 * elsewhere. Inline styles are allowed because xterm.js writes a <style> element for its layout.
 */
export const DASHBOARD_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json; charset=utf-8",
  ".woff2": "font/woff2",
};

/**
 * Serves the built dashboard (`packages/dashboard/dist`) for GET/HEAD requests outside `/v1`:
 * `/` is index.html, other paths are files under the directory (never above it). Returns false
 * when it has nothing for the request (no build, unknown file), so the caller answers 404.
 */
export function serveStatic(dir: string | undefined, req: IncomingMessage, res: ServerResponse, path: string): boolean {
  const method = req.method ?? "GET";
  if (dir === undefined || (method !== "GET" && method !== "HEAD") || path.startsWith("/v1/")) return false;
  const root = resolve(dir);
  let relative: string;
  try {
    relative = decodeURIComponent(path === "/" ? "/index.html" : path);
  } catch {
    return false;
  }
  const file = resolve(join(root, relative));
  if (!file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) return false;
  const hashed = relative.startsWith("/assets/");
  res.writeHead(200, {
    "Content-Type": TYPES[extname(file)] ?? "application/octet-stream",
    "Content-Length": statSync(file).size,
    // Vite puts a content hash in every asset's name; index.html must be fetched afresh.
    "Cache-Control": hashed ? "public, max-age=31536000, immutable" : "no-cache",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": DASHBOARD_CSP,
    "Referrer-Policy": "no-referrer",
  });
  if (method === "HEAD") res.end();
  else createReadStream(file).pipe(res);
  return true;
}
