import { describe, expect, it } from "vitest";
import { HeadTailBuffer, sliceHead, sliceTail, truncateMiddle, truncationMarker } from "../src/truncate.js";

describe("truncateMiddle", () => {
  it("leaves short text alone", () => {
    expect(truncateMiddle("hello", 10)).toBe("hello");
    expect(truncateMiddle("0123456789", 10)).toBe("0123456789");
  });

  it("keeps head and tail around a marker counting what was cut", () => {
    const text = "a".repeat(50) + "b".repeat(100) + "c".repeat(50);
    const out = truncateMiddle(text, 100);
    expect(out).toBe(`${"a".repeat(50)}${truncationMarker(100)}${"c".repeat(50)}`);
    expect(out).toContain("[... 100 characters truncated ...]");
  });

  it("never splits a surrogate pair", () => {
    const text = "😀".repeat(10); // 20 UTF-16 units
    const out = truncateMiddle(text, 5);
    const [head, tail] = out.split(/\n\[\.\.\. \d+ characters truncated \.\.\.\]\n/);
    expect(head).toBe("😀");
    expect(tail).toBe("😀");
    expect(sliceHead("a😀", 2)).toBe("a");
    expect(sliceTail("😀a", 2)).toBe("a");
  });
});

describe("HeadTailBuffer", () => {
  it("returns everything pushed while under the limit, then empties", () => {
    const buf = new HeadTailBuffer(20);
    buf.push("abc");
    buf.push("def");
    expect(buf.length).toBe(6);
    expect(buf.take()).toBe("abcdef");
    expect(buf.take()).toBe("");
    expect(buf.length).toBe(0);
  });

  it("keeps the first and the latest halves of a long stream, counting the rest", () => {
    const buf = new HeadTailBuffer(10);
    for (let i = 0; i < 10; i++) buf.push(String(i).repeat(3)); // 30 characters
    expect(buf.length).toBe(30);
    expect(buf.take()).toBe(`00011${truncationMarker(20)}88999`);
  });

  it("handles one huge chunk", () => {
    const buf = new HeadTailBuffer(10);
    buf.push(`HEAD!${"x".repeat(1000)}TAIL!`);
    expect(buf.take()).toBe(`HEAD!${truncationMarker(1000)}TAIL!`);
  });

  it("keeps order when the head fills across chunks", () => {
    const buf = new HeadTailBuffer(8);
    buf.push("ab");
    buf.push("cdef");
    buf.push("gh");
    expect(buf.take()).toBe("abcdefgh");
    buf.push("123456789");
    expect(buf.take()).toBe(`1234${truncationMarker(1)}6789`);
  });
});
