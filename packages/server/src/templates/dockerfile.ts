import { BurrowError, ErrorCode, type TemplateBase, type TemplateStartConfig, type TemplateStep } from "@burrow/core";
import { DockerfileParser, type Instruction } from "dockerfile-ast";

/** What a Dockerfile turns into: the base and the steps of a TemplateBuildRequest. */
export interface ParsedDockerfile {
  from: TemplateBase;
  steps: TemplateStep[];
  /** From `CMD` (the start command) and `HEALTHCHECK CMD` (the ready command). */
  start?: TemplateStartConfig;
}

export interface DockerfileOptions {
  /** The uploaded context archive COPY/ADD read from (sha256 hex); COPY without one is a 400. */
  contextHash?: string;
  buildArgs?: Record<string, string>;
}

const SUPPORTED = [
  "FROM",
  "RUN",
  "COPY",
  "ADD",
  "ENV",
  "ARG",
  "WORKDIR",
  "USER",
  "LABEL",
  "EXPOSE",
  "CMD",
  "HEALTHCHECK",
];

/** A JSON-form command as one shell line (each word single-quoted). */
function shellLine(argv: string[]): string {
  return argv.map((w) => (/^[A-Za-z0-9_./:=@%+-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(" ");
}

function bad(line: number, instruction: string, message: string): BurrowError {
  return new BurrowError(ErrorCode.ValidationFailed, `Dockerfile line ${line}: ${instruction}: ${message}`, {
    details: { field: "dockerfile", line, instruction },
  });
}

/**
 * Docker's variable substitution: `$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME:+alternative}`;
 * `\$` stays a literal `$`. Unknown variables become empty, as in Docker.
 */
export function substitute(text: string, vars: Readonly<Record<string, string>>): string {
  return text.replace(
    /\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (match, braced?: string, op?: string, word?: string, bare?: string) => {
      if (match === "\\$") return "$";
      const name = braced ?? bare ?? "";
      const value = vars[name];
      if (op === "-") return value === undefined || value === "" ? substitute(word ?? "", vars) : value;
      if (op === "+") return value === undefined || value === "" ? "" : substitute(word ?? "", vars);
      return value ?? "";
    },
  );
}

function properties(ins: Instruction): [string, string | null][] {
  const withProps = ins as Instruction & { getProperties?: () => { getName(): string; getValue(): string | null }[] };
  return (withProps.getProperties?.() ?? []).map((p) => [p.getName(), p.getValue()]);
}

function flagsOf(ins: Instruction): Map<string, string | null> {
  const withFlags = ins as Instruction & { getFlags?: () => { getName(): string; getValue(): string | null }[] };
  return new Map((withFlags.getFlags?.() ?? []).map((f) => [f.getName(), f.getValue()]));
}

/** The exec (JSON array) form's strings; undefined for the shell form (Docker's fallback too). */
function jsonStrings(ins: Instruction): string[] | undefined {
  const content = ins.getArgumentsContent()?.trim() ?? "";
  if (!content.startsWith("[")) return undefined;
  try {
    const parsed: unknown = JSON.parse(content);
    if (Array.isArray(parsed) && parsed.length > 0 && parsed.every((s) => typeof s === "string")) return parsed;
  } catch {
    // Not JSON: the shell form.
  }
  return undefined;
}

/**
 * Parses a Dockerfile (one stage) into the base and steps of a template build. ARG values come
 * from `buildArgs` (else their defaults); variables are substituted where Docker substitutes
 * them (FROM, COPY/ADD, ENV, WORKDIR, USER, LABEL, EXPOSE); RUN sees ARGs and ENVs as its
 * environment. Anything else, or a second FROM, is a 400 naming the line and instruction.
 */
export function parseDockerfile(text: string, options: DockerfileOptions = {}): ParsedDockerfile {
  const buildArgs = options.buildArgs ?? {};
  const instructions = DockerfileParser.parse(text).getInstructions();
  const args: Record<string, string> = {};
  const env: Record<string, string> = {};
  const vars = () => ({ ...args, ...env });
  let from: TemplateBase | undefined;
  const steps: TemplateStep[] = [];
  const start: TemplateStartConfig = {};
  for (const ins of instructions) {
    const keyword = ins.getKeyword().toUpperCase();
    const line = ins.getRange().start.line + 1;
    if (!SUPPORTED.includes(keyword)) {
      throw bad(line, keyword, `not supported (supported: ${SUPPORTED.join(", ")})`);
    }
    const content = ins.getArgumentsContent()?.trim() ?? "";
    if (content === "") throw bad(line, keyword, "needs arguments");
    if (keyword === "ARG") {
      for (const [name, value] of properties(ins)) {
        const given = buildArgs[name];
        args[name] = given ?? (value === null ? "" : substitute(value, vars()));
      }
      continue;
    }
    if (keyword === "FROM") {
      if (from !== undefined) throw bad(line, keyword, "multi-stage builds are not supported (one FROM)");
      const words = substitute(content, args).split(/\s+/);
      if (words.length > 1 || words[0]?.startsWith("--")) {
        throw bad(line, keyword, "takes one image or template (no --platform, no AS)");
      }
      const ref = words[0] ?? "";
      from = /^(oci-archive|docker-archive):/.test(ref) || ref.includes("/") ? { image: ref } : { template: ref };
      // As in Docker, ARGs declared before FROM serve FROM only.
      for (const name of Object.keys(args)) delete args[name];
      continue;
    }
    if (from === undefined) throw bad(line, keyword, "comes before FROM");
    switch (keyword) {
      case "RUN": {
        if (flagsOf(ins).size > 0) throw bad(line, keyword, "flags (--mount, --network, …) are not supported");
        const argv = jsonStrings(ins);
        const buildEnv = { ...args };
        const step: TemplateStep = argv ? { type: "run", argv } : { type: "run", shell: content };
        if (Object.keys(buildEnv).length > 0) step.buildEnv = buildEnv;
        steps.push(step);
        break;
      }
      case "COPY":
      case "ADD": {
        const flags = flagsOf(ins);
        for (const name of flags.keys()) {
          if (name !== "chown" && name !== "chmod") throw bad(line, keyword, `--${name} is not supported`);
        }
        const words = (jsonStrings(ins) ?? ins.getArguments().map((a) => a.getValue())).map((w) =>
          substitute(w, vars()),
        );
        if (words.length < 2) throw bad(line, keyword, "needs a source and a destination");
        if (options.contextHash === undefined) {
          throw bad(line, keyword, "needs a build context (upload one and pass its contextHash)");
        }
        const sources = words.slice(0, -1);
        for (const s of sources) {
          if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) throw bad(line, keyword, `remote sources are not supported (${s})`);
        }
        const step: TemplateStep = {
          type: "copy",
          contextHash: options.contextHash,
          sources,
          dest: words[words.length - 1] ?? "",
        };
        const chown = flags.get("chown");
        const chmod = flags.get("chmod");
        if (chown) step.chown = substitute(chown, vars());
        if (chmod) step.chmod = substitute(chmod, vars());
        steps.push(step);
        break;
      }
      case "ENV": {
        const set: Record<string, string> = {};
        for (const [name, value] of properties(ins)) set[name] = substitute(value ?? "", vars());
        Object.assign(env, set);
        steps.push({ type: "env", vars: set });
        break;
      }
      case "WORKDIR":
        steps.push({ type: "workdir", path: substitute(content, vars()) });
        break;
      case "USER":
        steps.push({ type: "user", user: substitute(content, vars()) });
        break;
      case "LABEL": {
        const labels: Record<string, string> = {};
        for (const [name, value] of properties(ins)) labels[substitute(name, vars())] = substitute(value ?? "", vars());
        steps.push({ type: "label", labels });
        break;
      }
      case "CMD": {
        // The start command: what sandboxes of the template run in the background at create.
        const argv = jsonStrings(ins);
        start.startCmd = argv ? shellLine(argv) : content;
        break;
      }
      case "HEALTHCHECK": {
        // The ready check: create answers once it exits 0 (--interval, --timeout and so on are ignored).
        const m = /^(?:--[a-z-]+=\S+\s+)*(CMD|NONE)\b\s*([\s\S]*)$/i.exec(content);
        if (!m) throw bad(line, keyword, "takes [options] CMD command, or NONE");
        if ((m[1] ?? "").toUpperCase() === "NONE") delete start.readyCmd;
        else {
          const rest = (m[2] ?? "").trim();
          let argv: string[] | undefined;
          try {
            const parsed: unknown = rest.startsWith("[") ? JSON.parse(rest) : undefined;
            if (Array.isArray(parsed) && parsed.every((w) => typeof w === "string")) argv = parsed as string[];
          } catch {
            argv = undefined;
          }
          if (rest === "") throw bad(line, keyword, "CMD needs a command");
          start.readyCmd = argv ? shellLine(argv) : rest;
        }
        break;
      }
      case "EXPOSE": {
        const ports = substitute(content, vars())
          .split(/\s+/)
          .map((p) => {
            const m = /^(\d{1,5})(\/(tcp|udp))?$/i.exec(p);
            const port = m ? Number(m[1]) : Number.NaN;
            if (!(port >= 1 && port <= 65535)) throw bad(line, keyword, `'${p}' is not a port`);
            return port;
          });
        steps.push({ type: "expose", ports });
        break;
      }
    }
  }
  if (from === undefined) throw bad(1, "FROM", "the Dockerfile has no FROM");
  return Object.keys(start).length > 0 ? { from, steps, start } : { from, steps };
}
