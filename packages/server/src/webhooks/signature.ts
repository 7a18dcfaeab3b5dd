import { createHmac, timingSafeEqual } from "node:crypto";

/** How old a signature's timestamp may be before a receiver should refuse it (replay window). */
export const SIGNATURE_TOLERANCE_S = 300;

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: the `burrow-signature` header. */
export function signWebhook(secret: string, timestampS: number, body: string): string {
  const mac = createHmac("sha256", secret).update(`${timestampS}.${body}`).digest("hex");
  return `t=${timestampS},v1=${mac}`;
}

/**
 * What a receiver does: recompute the MAC over the raw body and compare in constant time, and
 * refuse a timestamp outside the replay window.
 */
export function verifyWebhook(
  secret: string,
  header: string,
  body: string,
  nowS: number,
  toleranceS = SIGNATURE_TOLERANCE_S,
): boolean {
  const parts = new Map(header.split(",").map((p) => p.split("=", 2) as [string, string]));
  const t = Number(parts.get("t"));
  const v1 = parts.get("v1") ?? "";
  if (!Number.isInteger(t) || Math.abs(nowS - t) > toleranceS || !/^[0-9a-f]{64}$/.test(v1)) return false;
  const expected = signWebhook(secret, t, body).split("v1=")[1] ?? "";
  return timingSafeEqual(Buffer.from(expected, "hex"), Buffer.from(v1, "hex"));
}

/** Whether an event name matches a webhook's filter entry (`*` at the end matches any rest). */
export function eventMatches(pattern: string, event: string): boolean {
  return pattern.endsWith("*") ? event.startsWith(pattern.slice(0, -1)) : pattern === event;
}
