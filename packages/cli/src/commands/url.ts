/** `burrow url`: a preview URL of a port in a sandbox. */
import { Sandbox } from "@burrow/sdk";
import { flag, intOption, UsageError } from "../args.js";
import { type Command, print, printJson } from "../context.js";

export const url: Command = {
  spec: {
    name: "url",
    summary: "Print a preview URL of a port in a sandbox (private with a token unless --public)",
    positionals: [
      { name: "id", required: true },
      { name: "port", required: true },
    ],
    options: [
      { name: "public", type: "boolean", description: "anyone with the URL may use it" },
      { name: "expires", type: "string", value: "MS", description: "stop working after MS milliseconds" },
      { name: "json", type: "boolean", description: "print JSON (includes the token)" },
    ],
    examples: ["burrow url sb_… 8000", "burrow url --public --expires 3600000 sb_… 3000"],
  },
  async run(ctx, args) {
    const port = Number(args.positionals[1]);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new UsageError(`port must be a number from 1 to 65535, got '${args.positionals[1]}'`, "url");
    }
    const expiresInMs = intOption(args, "expires", "url");
    const sandbox = await Sandbox.connect(args.positionals[0] as string, ctx.connection);
    const preview = await sandbox.previews.create(port, {
      public: flag(args, "public"),
      ...(expiresInMs === undefined ? {} : { expiresInMs }),
    });
    if (flag(args, "json")) printJson(ctx.io.stdout, preview);
    else print(ctx.io.stdout, preview.url);
    return 0;
  },
};
