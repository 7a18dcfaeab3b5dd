/** Bounded reads of sandbox files, and text decoding that refuses to guess. */
import type { Sandbox } from "@burrow/sdk";

export interface BoundedRead {
  bytes: Uint8Array;
  /** False when the file has more than `maxBytes` bytes and only its head was read. */
  complete: boolean;
}

/** Reads at most `maxBytes` of a file, then stops the download. */
export async function readBounded(
  sandbox: Sandbox,
  path: string,
  maxBytes: number,
  signal?: AbortSignal,
): Promise<BoundedRead> {
  const stream = await sandbox.files.read(path, { format: "stream", ...(signal === undefined ? {} : { signal }) });
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let complete = true;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (size + value.length > maxBytes) {
        chunks.push(value.subarray(0, maxBytes - size));
        size = maxBytes;
        complete = false;
        break;
      }
      chunks.push(value);
      size += value.length;
    }
  } finally {
    if (!complete) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return { bytes, complete };
}

/** The bytes as UTF-8 text, or undefined when they are not valid UTF-8 (a binary file). */
export function decodeUtf8(bytes: Uint8Array, complete = true): string | undefined {
  try {
    // A head cut mid-character is still text: decode in streaming mode so the cut is not an error.
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes, { stream: !complete });
  } catch {
    return undefined;
  }
}

/** Standard base64 (whitespace allowed); undefined when `text` is not base64. */
export function decodeBase64(text: string): Uint8Array | undefined {
  const compact = text.replace(/\s+/g, "");
  if (compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) return undefined;
  return new Uint8Array(Buffer.from(compact, "base64"));
}

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}
