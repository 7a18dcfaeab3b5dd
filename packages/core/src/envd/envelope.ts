/**
 * Connect streaming framing: each message is an envelope of 1 flag byte, a 4-byte big-endian
 * length and that many bytes of JSON. The last envelope has the end-stream flag and carries
 * `{}` or `{"error": {...}}`.
 */
import { BurrowError, ErrorCode } from "../errors.js";
import { type ConnectErrorBody, connectErrorOf, errorCodeOfConnect } from "./connect.js";

export const EnvelopeFlag = {
  Compressed: 0x01,
  EndStream: 0x02,
} as const;

export const ENVELOPE_HEADER_BYTES = 5;
/** Largest message the decoder accepts unless told otherwise. */
export const DEFAULT_MAX_ENVELOPE_BYTES = 16 * 1024 * 1024;

export interface Envelope {
  flags: number;
  data: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeEnvelopeBytes(data: Uint8Array, flags = 0): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(ENVELOPE_HEADER_BYTES + data.length);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, data.length, false);
  out.set(data, ENVELOPE_HEADER_BYTES);
  return out;
}

/** Frames one JSON message. */
export function encodeEnvelope(message: unknown, flags = 0): Uint8Array<ArrayBuffer> {
  return encodeEnvelopeBytes(encoder.encode(JSON.stringify(message)), flags);
}

/** Frames the end-of-stream message, with an error when the call failed. */
export function encodeEndStream(error?: ConnectErrorBody): Uint8Array<ArrayBuffer> {
  return encodeEnvelope(error === undefined ? {} : { error }, EnvelopeFlag.EndStream);
}

function malformed(message: string): BurrowError {
  return new BurrowError(ErrorCode.SandboxUnreachable, `malformed envd stream: ${message}`);
}

/**
 * Incremental decoder: feed it chunks as they arrive (split anywhere, even inside a header)
 * and it returns every envelope completed so far.
 */
export class EnvelopeDecoder {
  private chunks: Uint8Array[] = [];
  private size = 0;

  constructor(private readonly maxMessageBytes = DEFAULT_MAX_ENVELOPE_BYTES) {}

  /** Bytes received but not yet returned as an envelope. */
  get buffered(): number {
    return this.size;
  }

  push(chunk: Uint8Array): Envelope[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.size += chunk.length;
    }
    const out: Envelope[] = [];
    while (this.size >= ENVELOPE_HEADER_BYTES) {
      const header = this.peek(ENVELOPE_HEADER_BYTES);
      const length = new DataView(header.buffer, header.byteOffset, header.byteLength).getUint32(1, false);
      if (length > this.maxMessageBytes) {
        throw malformed(`message of ${length} bytes exceeds the ${this.maxMessageBytes}-byte limit`);
      }
      if (this.size < ENVELOPE_HEADER_BYTES + length) break;
      const frame = this.take(ENVELOPE_HEADER_BYTES + length);
      out.push({ flags: frame[0] as number, data: frame.subarray(ENVELOPE_HEADER_BYTES) });
    }
    return out;
  }

  /** Call when the byte stream ends; throws when it stopped inside an envelope. */
  end(): void {
    if (this.size > 0) throw malformed(`stream ended inside an envelope (${this.size} bytes left over)`);
  }

  /** The first n buffered bytes, merging chunks only as far as needed. */
  private peek(n: number): Uint8Array {
    const first = this.chunks[0] as Uint8Array;
    if (first.length >= n) return first.subarray(0, n);
    this.merge();
    return (this.chunks[0] as Uint8Array).subarray(0, n);
  }

  private take(n: number): Uint8Array {
    const first = this.chunks[0] as Uint8Array;
    if (first.length < n) this.merge();
    const merged = this.chunks[0] as Uint8Array;
    const frame = merged.subarray(0, n);
    if (merged.length === n) this.chunks.shift();
    else this.chunks[0] = merged.subarray(n);
    this.size -= n;
    return frame;
  }

  private merge(): void {
    const all = new Uint8Array(this.size);
    let offset = 0;
    for (const c of this.chunks) {
      all.set(c, offset);
      offset += c.length;
    }
    this.chunks = [all];
  }
}

/** Parses an envelope's JSON payload. */
export function parseEnvelopeJson(envelope: Envelope): unknown {
  if ((envelope.flags & EnvelopeFlag.Compressed) !== 0) {
    throw malformed("compressed envelopes are not supported");
  }
  const text = decoder.decode(envelope.data);
  try {
    return text === "" ? {} : JSON.parse(text);
  } catch {
    throw malformed(`envelope is not JSON: ${text.slice(0, 200)}`);
  }
}

/** The error an end-of-stream message reports, as a BurrowError; null when the call succeeded. */
export function endStreamError(message: unknown): BurrowError | null {
  if (typeof message !== "object" || message === null || !("error" in message)) return null;
  const err = connectErrorOf((message as { error: unknown }).error);
  if (err === null) return new BurrowError(ErrorCode.Internal, "envd stream failed without an error code");
  return connectErrorToBurrow(err);
}

/** Converts a Connect error into a BurrowError; `details.rpcCode` keeps the original code. */
export function connectErrorToBurrow(err: ConnectErrorBody): BurrowError {
  const message = err.message !== undefined && err.message !== "" ? err.message : err.code;
  return new BurrowError(errorCodeOfConnect(err.code), message, { details: { rpcCode: err.code } });
}

/**
 * Reads a Connect server-stream body and yields each message's parsed JSON. Throws the
 * end-of-stream error as a BurrowError, and a SandboxUnreachable error when the body ends
 * without an end-of-stream message.
 */
export async function* readConnectStream(
  body: ReadableStream<Uint8Array>,
  maxMessageBytes = DEFAULT_MAX_ENVELOPE_BYTES,
): AsyncGenerator<unknown, void, undefined> {
  const envelopes = new EnvelopeDecoder(maxMessageBytes);
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (const envelope of envelopes.push(value)) {
        const message = parseEnvelopeJson(envelope);
        if ((envelope.flags & EnvelopeFlag.EndStream) !== 0) {
          const error = endStreamError(message);
          if (error !== null) throw error;
          return;
        }
        yield message;
      }
    }
    envelopes.end();
    throw new BurrowError(ErrorCode.SandboxUnreachable, "envd stream ended before its end-of-stream message");
  } finally {
    // Cancelling releases the connection when the consumer stops early or an error is thrown.
    reader.cancel().catch(() => {});
  }
}
