import { BurrowError, type TemplateConfig } from "@burrow/core";
import { describe, expect, it } from "vitest";
import { cacheKey, type PlannedStep } from "../src/templates/build-plan.js";
import { parseDockerfile, substitute } from "../src/templates/dockerfile.js";
import { matchSources, normalizeContextPath } from "../src/templates/tar-index.js";

const HASH = "a".repeat(64);

function badLine(text: string): string {
  try {
    parseDockerfile(text, { contextHash: HASH });
  } catch (err) {
    expect(err).toBeInstanceOf(BurrowError);
    expect((err as BurrowError).code).toBe("validation_failed");
    return (err as BurrowError).message;
  }
  throw new Error("parsed");
}

describe("Dockerfile parser", () => {
  it("turns instructions into steps, substituting ARGs and ENVs where Docker does", () => {
    const parsed = parseDockerfile(
      `# comment
ARG BASE=base
FROM \${BASE}
ARG VERSION=1.0
ARG GIVEN
ENV APP=/opt/app NAME="my app"
RUN echo $VERSION > \${APP}/v && \\
    echo done
RUN ["echo", "json form"]
COPY --chown=app:app --chmod=640 src/ conf/*.ini $APP/
WORKDIR $APP/work
USER app:app
LABEL org.version=$VERSION "a b"=c
EXPOSE 8080 53/udp
`,
      { contextHash: HASH, buildArgs: { GIVEN: "from-args", VERSION: "2.0" } },
    );
    expect(parsed.from).toEqual({ template: "base" });
    expect(parsed.steps).toEqual([
      { type: "env", vars: { APP: "/opt/app", NAME: "my app" } },
      {
        type: "run",
        shell: expect.stringMatching(/^echo \$VERSION > \$\{APP\}\/v && +echo done$/),
        buildEnv: { VERSION: "2.0", GIVEN: "from-args" },
      },
      { type: "run", argv: ["echo", "json form"], buildEnv: { VERSION: "2.0", GIVEN: "from-args" } },
      {
        type: "copy",
        contextHash: HASH,
        sources: ["src/", "conf/*.ini"],
        dest: "/opt/app/",
        chown: "app:app",
        chmod: "640",
      },
      { type: "workdir", path: "/opt/app/work" },
      { type: "user", user: "app:app" },
      { type: "label", labels: { "org.version": "2.0", "a b": "c" } },
      { type: "expose", ports: [8080, 53] },
    ]);
  });

  it("takes CMD as the start command and HEALTHCHECK CMD as the ready command", () => {
    const parsed = parseDockerfile(
      'FROM base\nCMD ["python3", "-m", "http.server", "8000"]\nHEALTHCHECK --interval=1s CMD curl -sf http://localhost:8000/\n',
    );
    expect(parsed.start).toEqual({
      startCmd: "python3 -m http.server 8000",
      readyCmd: "curl -sf http://localhost:8000/",
    });
    expect(parseDockerfile(`FROM base\nCMD ["sh", "-c", "echo it's"]\n`).start).toEqual({
      startCmd: `sh -c 'echo it'\\''s'`,
    });
    expect(parseDockerfile("FROM base\nHEALTHCHECK CMD true\nHEALTHCHECK NONE\n").start).toBeUndefined();
    expect(parseDockerfile("FROM base\nRUN true\n").start).toBeUndefined();
  });

  it("recognizes image bases", () => {
    expect(parseDockerfile("FROM oci-archive:/tmp/x.tar\n").from).toEqual({ image: "oci-archive:/tmp/x.tar" });
    expect(parseDockerfile("FROM docker.io/library/debian:12\n").from).toEqual({
      image: "docker.io/library/debian:12",
    });
  });

  it("answers 400 naming the line and instruction for what it does not support", () => {
    expect(badLine("FROM base\nRUN true\nENTRYPOINT true\n")).toMatch(/line 3: ENTRYPOINT: not supported/);
    expect(badLine("FROM base\nHEALTHCHECK --interval=1s\n")).toMatch(/line 2: HEALTHCHECK/);
    expect(badLine("FROM base AS build\n")).toMatch(/line 1: FROM/);
    expect(badLine("FROM base\nFROM base\n")).toMatch(/line 2: FROM: multi-stage/);
    expect(badLine("RUN true\n")).toMatch(/line 1: RUN: comes before FROM/);
    expect(badLine("FROM base\nRUN --mount=type=cache,target=/x true\n")).toMatch(/line 2: RUN: flags/);
    expect(badLine("FROM base\nCOPY --from=build /a /b\n")).toMatch(/line 2: COPY: --from/);
    expect(badLine("FROM base\nEXPOSE 99999\n")).toMatch(/line 2: EXPOSE/);
    expect(badLine("# nothing\n")).toMatch(/no FROM/);
    expect(() => parseDockerfile("FROM base\nCOPY a /b\n")).toThrow(/needs a build context/);
  });

  it("substitutes like Docker: defaults, alternatives, escapes, unknown variables empty", () => {
    const vars = { A: "1", EMPTY: "" };
    // Written with "$" + "{" so the linter does not take them for template-literal slips.
    const d = "$";
    const text = ["$A", `${d}{A}`, `${d}{B:-x}`, `${d}{EMPTY:-d}`, `${d}{A:+alt}`, `${d}{B:+alt}`, "\\$A", "$B."].join(
      " ",
    );
    expect(substitute(text, vars)).toBe("1 1 x d alt  $A .");
  });
});

describe("build context paths", () => {
  it("normalizes paths and refuses absolute ones and '..'", () => {
    expect(normalizeContextPath("./a//b/")).toBe("a/b");
    expect(normalizeContextPath(".")).toBeUndefined();
    expect(() => normalizeContextPath("/etc/passwd")).toThrow(/absolute/);
    expect(() => normalizeContextPath("a/../../b")).toThrow(/\.\./);
  });

  it("matches COPY sources with globs per path part; a source matching nothing is a 400", () => {
    const entries = [
      { path: "src/a.ts", type: "file" as const, mode: 0o644, size: 1 },
      { path: "src/b.js", type: "file" as const, mode: 0o644, size: 1 },
      { path: "README.md", type: "file" as const, mode: 0o644, size: 1 },
    ];
    expect(matchSources(entries, "src/*.ts")).toEqual(["src/a.ts"]);
    expect(matchSources(entries, "src")).toEqual(["src"]);
    expect(matchSources(entries, "*.md")).toEqual(["README.md"]);
    expect(matchSources(entries, ".")).toBeUndefined();
    expect(() => matchSources(entries, "nothing/*")).toThrow(/not in the build context/);
  });
});

describe("layer cache keys", () => {
  const config = (over: Partial<TemplateConfig> = {}): TemplateConfig => ({
    env: { A: "1" },
    labels: {},
    exposedPorts: [],
    ...over,
  });
  const run: PlannedStep = { step: { type: "run", shell: "make" } };
  const copy = (sha: string): PlannedStep => ({
    step: { type: "copy", contextHash: "c".repeat(64), sources: ["src"], dest: "/app" },
    copyFiles: [["src/a", "file", 0o644, sha]],
  });

  it("changes with the parent, the step, env, user, workdir, build args and copied contents", () => {
    const base = cacheKey("p", run, config(), {});
    expect(cacheKey("p", run, config(), {})).toBe(base);
    expect(cacheKey("q", run, config(), {})).not.toBe(base);
    expect(cacheKey("p", { step: { type: "run", shell: "make all" } }, config(), {})).not.toBe(base);
    expect(cacheKey("p", run, config({ env: { A: "2" } }), {})).not.toBe(base);
    expect(cacheKey("p", run, config({ user: "app" }), {})).not.toBe(base);
    expect(cacheKey("p", run, config({ workdir: "/w" }), {})).not.toBe(base);
    expect(cacheKey("p", run, config(), { V: "1" })).not.toBe(base);
    expect(cacheKey("p", copy("x"), config(), {})).not.toBe(cacheKey("p", copy("y"), config(), {}));
  });

  it("does not change with the context archive's hash when the copied files are the same", () => {
    const a = copy("x");
    const b: PlannedStep = {
      ...copy("x"),
      step: { ...(copy("x").step as object), contextHash: "d".repeat(64) } as PlannedStep["step"],
    };
    expect(cacheKey("p", a, config(), {})).toBe(cacheKey("p", b, config(), {}));
  });

  it("does not depend on the order env variables were set in", () => {
    expect(cacheKey("p", run, config({ env: { A: "1", B: "2" } }), {})).toBe(
      cacheKey("p", run, config({ env: { B: "2", A: "1" } }), {}),
    );
  });
});
