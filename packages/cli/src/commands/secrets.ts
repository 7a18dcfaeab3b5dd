/** `burrow secret`: store, list and delete secrets the egress proxy brokers. */
import { BurrowError, ErrorCode, Secrets } from "@burrow/sdk";
import { flag, stringOption, UsageError } from "../args.js";
import { type CliInput, type Command, print, printJson } from "../context.js";

async function readAll(input: CliInput): Promise<string> {
  let text = "";
  for await (const chunk of input) text += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
  return text;
}

const ACTIONS = ["set", "ls", "rm"] as const;

export const secret: Command = {
  spec: {
    name: "secret",
    summary: "Store (set), list (ls) or delete (rm) secrets; values are read from stdin, never printed",
    positionals: [
      { name: "action", required: true },
      { name: "name", required: false },
    ],
    options: [
      {
        name: "value",
        type: "string",
        value: "VALUE",
        description: "the value (default: read stdin; shells keep history)",
      },
      { name: "json", type: "boolean", description: "print JSON" },
    ],
    examples: [
      'printf %s "$GITHUB_TOKEN" | burrow secret set GITHUB_TOKEN',
      "burrow secret ls",
      "burrow create --secret GITHUB_TOKEN=api.github.com",
    ],
  },
  async run(ctx, args) {
    const [action, name] = args.positionals;
    if (!ACTIONS.includes(action as (typeof ACTIONS)[number])) {
      throw new UsageError(`unknown action '${action}': use ${ACTIONS.join(", ")}`, "secret");
    }
    if (action === "ls") {
      const secrets = await Secrets.list(ctx.connection);
      if (flag(args, "json")) printJson(ctx.io.stdout, secrets);
      else for (const s of secrets) print(ctx.io.stdout, `${s.name}\tupdated ${s.updatedAt}`);
      return 0;
    }
    if (name === undefined) throw new UsageError(`burrow secret ${action} needs a NAME`, "secret");
    if (action === "rm") {
      if (!(await Secrets.delete(name, ctx.connection))) {
        throw new BurrowError(ErrorCode.SecretNotFound, `secret ${name} not found`, { details: { name } });
      }
      return 0;
    }
    // One trailing newline (from echo or a file) is not part of the value.
    const value = stringOption(args, "value") ?? (await readAll(ctx.io.stdin)).replace(/\r?\n$/, "");
    const info = await Secrets.set(name, value, ctx.connection);
    if (flag(args, "json")) printJson(ctx.io.stdout, info);
    else print(ctx.io.stdout, `${info.name} stored; bind it with: burrow create --secret ${info.name}=HOST`);
    return 0;
  },
};
