export { parseArgs, shellJoin, shellQuote, UsageError } from "./args.js";
export { COMMANDS, commandHelp, runCli, topHelp } from "./cli.js";
export type { CliInput, CliIo, CliOutput, Context, SignalName } from "./context.js";
export { formatError } from "./format.js";
