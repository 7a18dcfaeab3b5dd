import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { ContextStore } from "../src/templates/contexts.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function store(limit?: number): ContextStore {
  const dir = mkdtempSync(join(tmpdir(), "burrow-ctx-"));
  dirs.push(dir);
  return new ContextStore(join(dir, "contexts"), limit);
}

function tar(entries: { path: string; content: string; type?: string; link?: string }[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.content);
    const h = Buffer.alloc(512);
    h.write(e.path, 0);
    h.write("0000644\0", 100);
    h.write("0000000\0", 108);
    h.write("0000000\0", 116);
    h.write(`${data.length.toString(8).padStart(11, "0")}\0`, 124);
    h.write("00000000000\0", 136);
    h.write("        ", 148);
    h.write(e.type ?? "0", 156);
    if (e.link) h.write(e.link, 157);
    h.write("ustar\u000000", 257);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
    parts.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

async function* body(bytes: Buffer): AsyncIterable<Uint8Array> {
  yield bytes;
}

describe("build contexts", () => {
  it("stores a tar by the sha256 of the uploaded bytes, gzip-compressed or not, with its file hashes", async () => {
    const s = store();
    const plain = tar([{ path: "a/b.txt", content: "hello" }]);
    const hash = await s.put(body(plain));
    expect(hash).toBe(createHash("sha256").update(plain).digest("hex"));
    expect(s.has(hash)).toBe(true);
    expect(s.entries(hash)).toEqual([
      {
        path: "a/b.txt",
        type: "file",
        mode: 0o644,
        size: 5,
        sha256: createHash("sha256").update("hello").digest("hex"),
      },
    ]);
    const gz = gzipSync(plain);
    const gzHash = await s.put(body(gz), createHash("sha256").update(gz).digest("hex"));
    expect(s.entries(gzHash)).toEqual(s.entries(hash));
  });

  it("refuses bytes that do not match the given hash, archives over the limit (also once unpacked) and bad gzip", async () => {
    const s = store(64 * 1024);
    await expect(s.put(body(tar([{ path: "x", content: "x" }])), "0".repeat(64))).rejects.toMatchObject({
      code: "validation_failed",
    });
    const big = tar([{ path: "big", content: "y".repeat(100 * 1024) }]);
    await expect(s.put(body(big))).rejects.toMatchObject({ code: "payload_too_large" });
    await expect(s.put(body(gzipSync(big)))).rejects.toMatchObject({ code: "payload_too_large" });
    await expect(s.put(body(Buffer.from([0x1f, 0x8b, 1, 2, 3])))).rejects.toMatchObject({ code: "validation_failed" });
  });

  it("refuses escaping paths and links, and devices", async () => {
    const s = store();
    await expect(s.put(body(tar([{ path: "a/../../x", content: "" }])))).rejects.toThrow(/leaves the context/);
    await expect(s.put(body(tar([{ path: "l", content: "", type: "2", link: "/etc/passwd" }])))).rejects.toThrow(
      /outside/,
    );
    await expect(s.put(body(tar([{ path: "h", content: "", type: "1", link: "../x" }])))).rejects.toThrow(/outside/);
    await expect(s.put(body(tar([{ path: "dev", content: "", type: "3" }])))).rejects.toThrow(/device/);
    expect(() => s.entries("f".repeat(64))).toThrow(/was not uploaded/);
  });
});
