/**
 * Base64 for proto3 JSON `bytes` fields, without node's Buffer (core also runs in browsers).
 * Encoding emits the standard alphabet with padding; decoding also accepts the URL-safe
 * alphabet and missing padding, as proto3 JSON parsers must.
 */
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

const DECODE = (() => {
  const table = new Int16Array(128).fill(-1);
  for (let i = 0; i < ALPHABET.length; i++) table[ALPHABET.charCodeAt(i)] = i;
  table["-".charCodeAt(0)] = 62;
  table["_".charCodeAt(0)] = 63;
  return table;
})();

const ENCODE = Uint8Array.from(ALPHABET, (c) => c.charCodeAt(0));
const PAD = 61; // '='
const ascii = new TextDecoder();

export function bytesToBase64(bytes: Uint8Array): string {
  // Writing ASCII codes into a byte array and decoding once is far faster than string building.
  const out = new Uint8Array(Math.ceil(bytes.length / 3) * 4);
  const full = bytes.length - (bytes.length % 3);
  let o = 0;
  for (let i = 0; i < full; i += 3) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8) | (bytes[i + 2] as number);
    out[o++] = ENCODE[n >>> 18] as number;
    out[o++] = ENCODE[(n >>> 12) & 63] as number;
    out[o++] = ENCODE[(n >>> 6) & 63] as number;
    out[o++] = ENCODE[n & 63] as number;
  }
  const rest = bytes.length - full;
  if (rest > 0) {
    const n = ((bytes[full] as number) << 16) | (rest === 2 ? (bytes[full + 1] as number) << 8 : 0);
    out[o++] = ENCODE[n >>> 18] as number;
    out[o++] = ENCODE[(n >>> 12) & 63] as number;
    out[o++] = rest === 2 ? (ENCODE[(n >>> 6) & 63] as number) : PAD;
    out[o++] = PAD;
  }
  return ascii.decode(out);
}

export function base64ToBytes(text: string): Uint8Array<ArrayBuffer> {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 61 /* '=' */) end--;
  if (end % 4 === 1) throw new TypeError("invalid base64: truncated input");
  const out = new Uint8Array(Math.floor((end * 3) / 4));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? (DECODE[c] as number) : -1;
    if (v < 0) throw new TypeError(`invalid base64: unexpected character at offset ${i}`);
    acc = ((acc << 6) | v) & 0xffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >>> bits) & 0xff;
    }
  }
  return out;
}

const encoder = new TextEncoder();

/** Base64 of a string's UTF-8 bytes, or of raw bytes. */
export function toBase64(data: string | Uint8Array): string {
  return bytesToBase64(typeof data === "string" ? encoder.encode(data) : data);
}
