import { describe, expect, it } from "vitest";
import { base64ToBytes, bytesToBase64, toBase64 } from "../src/envd/base64.js";

describe("base64", () => {
  it("matches node's encoding for every length and byte value", () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    for (let n = 0; n <= 40; n++) {
      const bytes = all.subarray(256 - n);
      const expected = Buffer.from(bytes).toString("base64");
      expect(bytesToBase64(bytes)).toBe(expected);
      expect(base64ToBytes(expected)).toEqual(new Uint8Array(bytes));
    }
  });

  it("round-trips large input", () => {
    const bytes = Uint8Array.from({ length: 10_003 }, (_, i) => (i * 7919) & 0xff);
    expect(base64ToBytes(bytesToBase64(bytes))).toEqual(bytes);
  });

  it("accepts the URL-safe alphabet and missing padding", () => {
    const bytes = new Uint8Array([0xfb, 0xff, 0xfe]);
    expect(base64ToBytes("-__-")).toEqual(bytes);
    expect(base64ToBytes("aGk")).toEqual(new TextEncoder().encode("hi"));
  });

  it("rejects malformed input", () => {
    expect(() => base64ToBytes("a")).toThrow(/truncated/);
    expect(() => base64ToBytes("ab$d")).toThrow(/offset 2/);
  });

  it("encodes strings as UTF-8", () => {
    expect(toBase64("héllo")).toBe(Buffer.from("héllo", "utf8").toString("base64"));
  });
});
