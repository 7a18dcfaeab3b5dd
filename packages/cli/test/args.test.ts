import { describe, expect, it } from "vitest";
import {
  type CommandSpec,
  checkPositionals,
  keyValues,
  type OptionSpec,
  parseArgs,
  shellJoin,
  shellQuote,
  UsageError,
} from "../src/args.js";
import { formatError } from "../src/format.js";

const options: OptionSpec[] = [
  { name: "json", type: "boolean", description: "" },
  { name: "cwd", short: "w", type: "string", description: "" },
  { name: "env", short: "e", type: "list", description: "" },
];

describe("parseArgs", () => {
  it("reads long, short, inline and repeated options around positionals", () => {
    const parsed = parseArgs(["sb_1", "--json", "-w", "/tmp", "--env=A=1", "-e", "B=2", "x"], options);
    expect(parsed.positionals).toEqual(["sb_1", "x"]);
    expect(parsed.options).toEqual({ json: true, cwd: "/tmp", env: ["A=1", "B=2"] });
    expect(parsed.hadDashDash).toBe(false);
  });

  it("keeps everything after -- verbatim", () => {
    const parsed = parseArgs(["sb_1", "--cwd", "/", "--", "ls", "--json", "-la"], options);
    expect(parsed.positionals).toEqual(["sb_1"]);
    expect(parsed.rest).toEqual(["ls", "--json", "-la"]);
    expect(parsed.hadDashDash).toBe(true);
  });

  it("rejects unknown options, missing values and values on flags", () => {
    expect(() => parseArgs(["--nope"], options)).toThrow(new UsageError("unknown option --nope"));
    expect(() => parseArgs(["-x"], options)).toThrow(/unknown option -x/);
    expect(() => parseArgs(["--cwd"], options)).toThrow(/needs a value/);
    expect(() => parseArgs(["--cwd", "--"], options)).toThrow(/needs a value/);
    expect(() => parseArgs(["--json=1"], options)).toThrow(/takes no value/);
  });

  it("checks positionals against the command", () => {
    const spec: CommandSpec = { name: "info", summary: "", positionals: [{ name: "id", required: true }], options };
    expect(() => checkPositionals(parseArgs([], options), spec)).toThrow("missing <id>");
    expect(() => checkPositionals(parseArgs(["a", "b"], options), spec)).toThrow("unexpected argument 'b'");
    expect(() => checkPositionals(parseArgs(["a", "--", "b"], options), spec)).toThrow("unexpected '--'");
  });

  it("parses KEY=VALUE lists", () => {
    expect(keyValues(["A=1", "B=x=y", "C="], "env")).toEqual({ A: "1", B: "x=y", C: "" });
    expect(() => keyValues(["=1"], "env")).toThrow(/KEY=VALUE/);
    expect(() => keyValues(["A"], "env")).toThrow(/KEY=VALUE/);
  });
});

describe("shellQuote", () => {
  it("leaves plain words and quotes the rest for bash", () => {
    expect(shellQuote("ls")).toBe("ls");
    expect(shellQuote("/tmp/a-b_c.txt")).toBe("/tmp/a-b_c.txt");
    expect(shellQuote("")).toBe("''");
    expect(shellQuote("a b")).toBe("'a b'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(shellQuote("$HOME")).toBe("'$HOME'");
    expect(shellJoin(["bash", "-c", "echo $HOME | wc -c"])).toBe("bash -c 'echo $HOME | wc -c'");
  });
});

describe("formatError", () => {
  it("formats usage errors with exit code 2 and others with 1", () => {
    expect(formatError(new UsageError("missing <id>", "info"))).toEqual({
      text: "error: missing <id>\nRun 'burrow info --help' for usage.",
      exitCode: 2,
    });
    expect(formatError(new Error("boom"))).toEqual({ text: "error: boom (internal)", exitCode: 1 });
  });
});
