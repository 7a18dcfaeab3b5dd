import { InvalidArgumentError } from "@burrow/sdk";
import { describe, expect, it } from "vitest";
import { applyEdit, countOccurrences } from "../src/edit.js";
import { describeError } from "../src/errors.js";
import { resolveSandboxPath } from "../src/paths.js";

describe("applyEdit", () => {
  const file = "def f():\n    return 1\n\ndef g():\n    return 1\n";

  it("replaces a unique occurrence", () => {
    const result = applyEdit(file, { oldText: "def f():\n    return 1", newText: "def f():\n    return 2" }, "a.py");
    expect(result).toEqual({ content: file.replace("return 1", "return 2"), replacements: 1 });
  });

  it("refuses a non-unique occurrence unless replaceAll", () => {
    const err = (() => {
      try {
        applyEdit(file, { oldText: "return 1", newText: "return 3" }, "a.py");
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(describeError(err)).toMatchObject({
      code: "bad_request",
      message: "oldText occurs 2 times in a.py",
      hint: expect.stringContaining("replaceAll"),
    });
    const all = applyEdit(file, { oldText: "return 1", newText: "return 3", replaceAll: true }, "a.py");
    expect(all.replacements).toBe(2);
    expect(all.content).not.toContain("return 1");
  });

  it("fails clearly when the text is absent, empty, or unchanged", () => {
    expect(() => applyEdit(file, { oldText: "return 9", newText: "x" }, "a.py")).toThrow(
      "oldText was not found in a.py",
    );
    expect(() => applyEdit(file, { oldText: "", newText: "x" }, "a.py")).toThrow("oldText is empty");
    expect(() => applyEdit(file, { oldText: "f", newText: "f" }, "a.py")).toThrow("identical");
  });

  it("inserts replacement text literally", () => {
    expect(applyEdit("a-b", { oldText: "-", newText: "$&$'$`" }, "x").content).toBe("a$&$'$`b");
  });

  it("counts non-overlapping occurrences", () => {
    expect(countOccurrences("aaaa", "aa")).toBe(2);
    expect(countOccurrences("abc", "")).toBe(0);
  });
});

describe("resolveSandboxPath", () => {
  it("resolves relative paths against /home/user and normalises absolute ones", () => {
    expect(resolveSandboxPath("a.txt")).toBe("/home/user/a.txt");
    expect(resolveSandboxPath("./src/../b/")).toBe("/home/user/b");
    expect(resolveSandboxPath("~/c")).toBe("/home/user/c");
    expect(resolveSandboxPath("~")).toBe("/home/user");
    expect(resolveSandboxPath("/tmp//x/../y/")).toBe("/tmp/y");
    expect(resolveSandboxPath("/")).toBe("/");
  });

  it("rejects empty paths, NUL bytes and relative paths leaving the home", () => {
    expect(() => resolveSandboxPath(" ")).toThrow("path is empty");
    expect(() => resolveSandboxPath("a\0b")).toThrow("NUL");
    expect(() => resolveSandboxPath("../../etc/passwd")).toThrow("leads outside /home/user");
    expect(() => resolveSandboxPath("..")).toThrow("leads outside /home/user");
  });
});
