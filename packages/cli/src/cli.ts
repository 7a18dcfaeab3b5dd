/** `burrow` entry: global options, dispatch to commands, help, and the one error formatter. */
import { type CommandSpec, checkPositionals, type OptionSpec, parseArgs, stringOption, UsageError } from "./args.js";
import { checkpoint, checkpoints, diff, fork, restore } from "./commands/checkpoints.js";
import { cp } from "./commands/cp.js";
import { egress } from "./commands/egress.js";
import { exec } from "./commands/exec.js";
import { events, hibernate, keepalive, pause, restart, resume } from "./commands/lifecycle.js";
import { mcp } from "./commands/mcp.js";
import { runCode } from "./commands/run-code.js";
import { create, info, ls, rm } from "./commands/sandboxes.js";
import { secret } from "./commands/secrets.js";
import { shell } from "./commands/shell.js";
import { template } from "./commands/templates.js";
import { url } from "./commands/url.js";
import { volume } from "./commands/volumes.js";
import { webhook } from "./commands/webhooks.js";
import { type CliIo, type Command, print } from "./context.js";
import { EXIT_USAGE, formatError } from "./format.js";

export const COMMANDS: readonly Command[] = [
  create,
  ls,
  info,
  exec,
  runCode,
  shell,
  cp,
  rm,
  pause,
  hibernate,
  resume,
  restart,
  keepalive,
  events,
  checkpoint,
  checkpoints,
  restore,
  fork,
  diff,
  url,
  egress,
  secret,
  volume,
  webhook,
  template,
  mcp,
];

export const GLOBAL_OPTIONS: readonly OptionSpec[] = [
  { name: "api-url", type: "string", value: "URL", description: "Burrow server (env BURROW_API_URL)" },
  { name: "api-key", type: "string", value: "KEY", description: "API key (env BURROW_API_KEY)" },
  { name: "help", short: "h", type: "boolean", description: "show help" },
  { name: "version", short: "V", type: "boolean", description: "print the version" },
];

function optionLines(options: readonly OptionSpec[]): string[] {
  const cells = options.map((o) => {
    const names = `${o.short === undefined ? "    " : `-${o.short}, `}--${o.name}${o.value ? ` ${o.value}` : ""}`;
    return [names, o.description] as const;
  });
  const width = Math.max(...cells.map(([n]) => n.length));
  return cells.map(([n, d]) => `  ${n.padEnd(width)}  ${d}`);
}

export function commandHelp(spec: CommandSpec): string {
  const positionals = spec.positionals.map((p) => {
    const name = p.variadic ? `${p.name}...` : p.name;
    return p.required ? `<${name}>` : `[${name}]`;
  });
  const usage = ["burrow", spec.name, "[options]", ...(spec.rest ? [] : positionals)];
  if (spec.rest) usage.push(positionals[0] ?? "", "--", spec.rest);
  const lines = [spec.summary, "", `Usage: ${usage.join(" ")}`, "", "Options:", ...optionLines(spec.options)];
  lines.push("", "Global options:", ...optionLines(GLOBAL_OPTIONS));
  if (spec.examples !== undefined) lines.push("", "Examples:", ...spec.examples.map((e) => `  ${e}`));
  return lines.join("\n");
}

export function topHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.spec.name.length));
  return [
    "burrow: self-hosted sandboxes for AI agents",
    "",
    "Usage: burrow [global options] <command> [options] [args]",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.spec.name.padEnd(width)}  ${c.spec.summary}`),
    "",
    "Global options:",
    ...optionLines(GLOBAL_OPTIONS),
    "",
    "Run 'burrow <command> --help' for a command's options.",
  ].join("\n");
}

/** Prints to stdout and returns exit code 0. */
function show(io: CliIo, text: string): number {
  print(io.stdout, text);
  return 0;
}

/** Index of the command word: the first argument that is neither an option nor its value. */
function commandIndex(argv: readonly string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--") return -1;
    if (arg === "--api-url" || arg === "--api-key") i++;
    else if (!arg.startsWith("-")) return i;
  }
  return -1;
}

/** Runs the CLI and returns its exit code. */
export async function runCli(argv: readonly string[], io: CliIo, version: string): Promise<number> {
  try {
    const index = commandIndex(argv);
    if (index === -1) {
      const parsed = parseArgs(argv, GLOBAL_OPTIONS);
      if (parsed.options.version === true) return show(io, version);
      if (parsed.options.help === true) return show(io, topHelp());
      print(io.stderr, topHelp());
      return EXIT_USAGE;
    }
    let name = argv[index] as string;
    let rest = [...argv.slice(0, index), ...argv.slice(index + 1)];
    if (name === "help") {
      const topic = rest.find((a) => !a.startsWith("-"));
      if (topic === undefined) return show(io, topHelp());
      name = topic;
      rest = ["--help"];
    }
    const command = COMMANDS.find((c) => c.spec.name === name);
    if (command === undefined) throw new UsageError(`unknown command '${name}'`);
    const parsed = parseArgs(rest, [...command.spec.options, ...GLOBAL_OPTIONS], name);
    if (parsed.options.help === true) return show(io, commandHelp(command.spec));
    if (parsed.options.version === true) return show(io, version);
    checkPositionals(parsed, command.spec);
    const apiUrl = stringOption(parsed, "api-url");
    const apiKey = stringOption(parsed, "api-key");
    const connection = { ...(apiUrl === undefined ? {} : { apiUrl }), ...(apiKey === undefined ? {} : { apiKey }) };
    return await command.run({ io, connection }, parsed);
  } catch (err) {
    const { text, exitCode } = formatError(err);
    print(io.stderr, text);
    return exitCode;
  }
}
