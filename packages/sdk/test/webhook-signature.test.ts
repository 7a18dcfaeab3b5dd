import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { verifyWebhookSignature } from "../src/webhooks.js";

// The SDK's check (Web Crypto) against a signature made with Node's HMAC, as the server makes it.
describe("verifyWebhookSignature", () => {
  const secret = "whsec_test";
  const body = '{"id":"whd_x","event":"sandbox.created"}';
  const sign = (t: number, b = body, key = secret) =>
    `t=${t},v1=${createHmac("sha256", key).update(`${t}.${b}`).digest("hex")}`;
  const now = 1_764_900_000;

  it("accepts a fresh signature of the exact body", async () => {
    expect(await verifyWebhookSignature(secret, sign(now), body, { nowS: now + 10 })).toBe(true);
  });

  it("refuses another body, another secret, an old timestamp and a malformed header", async () => {
    expect(await verifyWebhookSignature(secret, sign(now), `${body} `, { nowS: now })).toBe(false);
    expect(await verifyWebhookSignature(secret, sign(now, body, "other"), body, { nowS: now })).toBe(false);
    expect(await verifyWebhookSignature(secret, sign(now - 301), body, { nowS: now })).toBe(false);
    expect(await verifyWebhookSignature(secret, "t=abc,v1=00", body, { nowS: now })).toBe(false);
    expect(await verifyWebhookSignature(secret, "", body, { nowS: now })).toBe(false);
  });
});
