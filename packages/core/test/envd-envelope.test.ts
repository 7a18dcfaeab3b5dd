import { describe, expect, it } from "vitest";
import { errorCodeOfConnect } from "../src/envd/connect.js";
import {
  EnvelopeDecoder,
  EnvelopeFlag,
  encodeEndStream,
  encodeEnvelope,
  parseEnvelopeJson,
  readConnectStream,
} from "../src/envd/envelope.js";
import { BurrowError, ErrorCode } from "../src/errors.js";

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const c of chunks) controller.enqueue(c);
      controller.close();
    },
  });
}

const messages = [{ event: { start: { pid: 7 } } }, { event: { data: { stdout: "aGk=" } } }, {}];

describe("envelope framing", () => {
  it("encodes flag, big-endian length and JSON", () => {
    const frame = encodeEnvelope({ a: 1 });
    expect(Array.from(frame.subarray(0, 5))).toEqual([0, 0, 0, 0, 7]);
    expect(new TextDecoder().decode(frame.subarray(5))).toBe('{"a":1}');
    expect(encodeEndStream()[0]).toBe(EnvelopeFlag.EndStream);
  });

  it("decodes a stream split at every possible offset", () => {
    const wire = concat([...messages.map((m) => encodeEnvelope(m)), encodeEndStream()]);
    for (let cut = 0; cut <= wire.length; cut++) {
      for (const step of [1, 3, 7]) {
        const decoder = new EnvelopeDecoder();
        const got: unknown[] = [];
        const flags: number[] = [];
        const pieces = [wire.subarray(0, cut)];
        for (let i = cut; i < wire.length; i += step) pieces.push(wire.subarray(i, i + step));
        for (const piece of pieces) {
          for (const env of decoder.push(piece)) {
            got.push(parseEnvelopeJson(env));
            flags.push(env.flags);
          }
        }
        decoder.end();
        expect(got).toEqual([...messages, {}]);
        expect(flags).toEqual([0, 0, 0, EnvelopeFlag.EndStream]);
      }
    }
  });

  it("returns several envelopes from one chunk", () => {
    const decoder = new EnvelopeDecoder();
    expect(decoder.push(concat(messages.map((m) => encodeEnvelope(m))))).toHaveLength(3);
    expect(decoder.buffered).toBe(0);
  });

  it("reports a stream cut inside an envelope", () => {
    const decoder = new EnvelopeDecoder();
    decoder.push(encodeEnvelope({ a: 1 }).subarray(0, 6));
    expect(() => decoder.end()).toThrow(/ended inside an envelope/);
  });

  it("refuses messages over the size limit before buffering them", () => {
    const decoder = new EnvelopeDecoder(10);
    expect(() => decoder.push(encodeEnvelope({ long: "x".repeat(20) }).subarray(0, 5))).toThrow(/exceeds/);
  });

  it("refuses compressed envelopes", () => {
    expect(() => parseEnvelopeJson({ flags: EnvelopeFlag.Compressed, data: new Uint8Array() })).toThrow(/compressed/);
  });
});

describe("readConnectStream", () => {
  it("yields messages until the end-of-stream envelope", async () => {
    const wire = concat([...messages.map((m) => encodeEnvelope(m)), encodeEndStream()]);
    const got: unknown[] = [];
    for await (const m of readConnectStream(streamOf([wire.subarray(0, 9), wire.subarray(9)]))) got.push(m);
    expect(got).toEqual(messages);
  });

  it("throws the end-of-stream error as a BurrowError keeping the Connect code", async () => {
    const wire = concat([encodeEnvelope(messages[0]), encodeEndStream({ code: "not_found", message: "no pid 9" })]);
    const iter = readConnectStream(streamOf([wire]));
    await expect(iter.next()).resolves.toMatchObject({ value: messages[0] });
    const err = await iter.next().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BurrowError);
    expect(err).toMatchObject({ code: ErrorCode.NotFound, message: "no pid 9", details: { rpcCode: "not_found" } });
  });

  it("fails when the body ends without an end-of-stream envelope", async () => {
    const iter = readConnectStream(streamOf([encodeEnvelope(messages[0])]));
    await iter.next();
    await expect(iter.next()).rejects.toMatchObject({ code: ErrorCode.SandboxUnreachable });
  });
});

describe("errorCodeOfConnect", () => {
  it("maps Connect codes onto Burrow codes", () => {
    expect(errorCodeOfConnect("invalid_argument")).toBe(ErrorCode.BadRequest);
    expect(errorCodeOfConnect("deadline_exceeded")).toBe(ErrorCode.Timeout);
    expect(errorCodeOfConnect("unauthenticated")).toBe(ErrorCode.Unauthorized);
    expect(errorCodeOfConnect("already_exists")).toBe(ErrorCode.Conflict);
    expect(errorCodeOfConnect("something_new")).toBe(ErrorCode.Internal);
    expect(errorCodeOfConnect("toString")).toBe(ErrorCode.Internal);
  });
});
