/** A small argv parser: long options (`--name value`, `--name=value`), short aliases, `--`. */

export type OptionType = "boolean" | "string" | "list";

export interface OptionSpec {
  name: string;
  short?: string;
  type: OptionType;
  /** Placeholder in help, e.g. "K=V". */
  value?: string;
  description: string;
}

export interface PositionalSpec {
  name: string;
  required: boolean;
  /** Takes all remaining positionals. */
  variadic?: boolean;
}

export interface CommandSpec {
  name: string;
  summary: string;
  positionals: PositionalSpec[];
  options: OptionSpec[];
  /** Accepts arguments after `--` (kept verbatim in `rest`). */
  rest?: string;
  examples?: string[];
}

export type OptionValue = boolean | string | string[];

export interface ParsedArgs {
  options: Record<string, OptionValue>;
  positionals: string[];
  /** Arguments after `--`, untouched. */
  rest: string[];
  /** True when `--` was present. */
  hadDashDash: boolean;
}

/** A mistake in how the CLI was called; exits with code 2. */
export class UsageError extends Error {
  override name = "UsageError";
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
  }
}

export function parseArgs(argv: readonly string[], options: readonly OptionSpec[], command?: string): ParsedArgs {
  const byName = new Map(options.map((o) => [o.name, o]));
  const byShort = new Map(options.filter((o) => o.short !== undefined).map((o) => [o.short as string, o]));
  const parsed: ParsedArgs = { options: {}, positionals: [], rest: [], hadDashDash: false };

  const set = (spec: OptionSpec, value: string | true) => {
    if (spec.type === "list") {
      const prev = parsed.options[spec.name];
      parsed.options[spec.name] = [...(Array.isArray(prev) ? prev : []), value as string];
    } else {
      parsed.options[spec.name] = value;
    }
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--") {
      parsed.hadDashDash = true;
      parsed.rest = argv.slice(i + 1);
      break;
    }
    let spec: OptionSpec | undefined;
    let inline: string | undefined;
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq === -1 ? undefined : arg.slice(eq + 1);
      spec = byName.get(name);
      if (spec === undefined) throw new UsageError(`unknown option --${name}`, command);
    } else if (arg.startsWith("-") && arg.length > 1) {
      spec = byShort.get(arg.slice(1));
      if (spec === undefined) throw new UsageError(`unknown option ${arg}`, command);
    } else {
      parsed.positionals.push(arg);
      continue;
    }
    if (spec.type === "boolean") {
      if (inline !== undefined) throw new UsageError(`option --${spec.name} takes no value`, command);
      set(spec, true);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || next === "--") {
        throw new UsageError(`option --${spec.name} needs a value${spec.value ? ` (${spec.value})` : ""}`, command);
      }
      value = next;
      i++;
    }
    set(spec, value);
  }
  return parsed;
}

export function stringOption(parsed: ParsedArgs, name: string): string | undefined {
  const v = parsed.options[name];
  return typeof v === "string" ? v : undefined;
}

export function listOption(parsed: ParsedArgs, name: string): string[] {
  const v = parsed.options[name];
  return Array.isArray(v) ? v : [];
}

export function flag(parsed: ParsedArgs, name: string): boolean {
  return parsed.options[name] === true;
}

/** Parses repeated `K=V` options into a record. */
export function keyValues(values: readonly string[], option: string, command?: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of values) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new UsageError(`--${option} expects KEY=VALUE, got '${item}'`, command);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/** Parses a non-negative integer option; undefined when absent. */
export function intOption(parsed: ParsedArgs, name: string, command?: string): number | undefined {
  const raw = stringOption(parsed, name);
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw)) throw new UsageError(`--${name} expects a non-negative integer, got '${raw}'`, command);
  return Number(raw);
}

/** Checks positional counts against the spec. */
export function checkPositionals(parsed: ParsedArgs, spec: CommandSpec): void {
  const required = spec.positionals.filter((p) => p.required).length;
  const variadic = spec.positionals.some((p) => p.variadic);
  if (parsed.positionals.length < required) {
    const missing = spec.positionals[parsed.positionals.length] as PositionalSpec;
    throw new UsageError(`missing <${missing.name}>`, spec.name);
  }
  if (!variadic && parsed.positionals.length > spec.positionals.length) {
    const extra = parsed.positionals[spec.positionals.length] as string;
    throw new UsageError(`unexpected argument '${extra}'`, spec.name);
  }
  if (parsed.hadDashDash && spec.rest === undefined) {
    throw new UsageError("unexpected '--'", spec.name);
  }
}

/** Quotes one argument for bash, leaving plain words alone. */
export function shellQuote(arg: string): string {
  if (arg === "") return "''";
  if (/^[A-Za-z0-9_\-+=.,/:@%^]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function shellJoin(args: readonly string[]): string {
  return args.map(shellQuote).join(" ");
}
