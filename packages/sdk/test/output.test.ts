import { describe, expect, it } from "vitest";
import { OutputChannel, TextAccumulator } from "../src/output.js";

const bytes = (s: string) => new TextEncoder().encode(s);

describe("TextAccumulator", () => {
  it("decodes characters split across chunks", () => {
    const acc = new TextAccumulator();
    const euro = bytes("€");
    acc.push(euro.subarray(0, 1));
    acc.push(euro.subarray(1));
    acc.end();
    expect(acc.text).toBe("€");
    expect(acc.truncated).toBe(false);
  });

  it("keeps the head up to the byte limit", () => {
    const acc = new TextAccumulator(5);
    acc.push(bytes("abc"));
    acc.push(bytes("defg"));
    acc.push(bytes("h"));
    acc.end();
    expect(acc.text).toBe("abcde");
    expect(acc.truncated).toBe(true);
  });
});

describe("OutputChannel", () => {
  it("queues before a consumer attaches, dropping past the limit", async () => {
    const ch = new OutputChannel<string>(4);
    await ch.push("ab", 2);
    await ch.push("cd", 2);
    await ch.push("ef", 2);
    ch.close();
    const got: string[] = [];
    const it = ch.iterator();
    for (let r = await it.next(); !r.done; r = await it.next()) got.push(r.value);
    expect(got).toEqual(["ab", "cd"]);
    expect(ch.dropped).toBe(true);
  });

  it("applies backpressure once a consumer is attached", async () => {
    const ch = new OutputChannel<string>(2);
    const it = ch.iterator();
    await ch.push("a", 1);
    await ch.push("b", 1);
    let pushed = false;
    const third = ch.push("c", 1).then(() => {
      pushed = true;
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(pushed).toBe(false);
    expect(await it.next()).toEqual({ value: "a", done: false });
    await third;
    expect(pushed).toBe(true);
  });

  it("ends the iteration with the close error", async () => {
    const ch = new OutputChannel<string>();
    const it = ch.iterator();
    const next = it.next();
    ch.close(new Error("lost"));
    await expect(next).rejects.toThrow("lost");
  });

  it("allows one consumer", () => {
    const ch = new OutputChannel<string>();
    ch.iterator();
    expect(() => ch.iterator()).toThrow(/only once/);
  });
});
