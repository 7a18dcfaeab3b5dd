/** Lifecycle commands: create, ls, info, rm. */

import { ErrorCode, Sandbox, SandboxNotFoundError } from "@burrow/sdk";
import { flag, keyValues, listOption, type OptionSpec, stringOption } from "../args.js";
import { type Command, print, printJson } from "../context.js";
import { formatError, sandboxDetails, sandboxTable } from "../format.js";
import { parseVolumeMount } from "./volumes.js";

const json: OptionSpec = { name: "json", type: "boolean", description: "print JSON" };
const metadata: OptionSpec = {
  name: "metadata",
  type: "list",
  value: "K=V",
  description: "label (repeatable)",
};

export const create: Command = {
  spec: {
    name: "create",
    summary: "Create a sandbox and print its id",
    positionals: [],
    options: [
      { name: "template", short: "t", type: "string", value: "NAME", description: "template (default: base)" },
      { name: "env", short: "e", type: "list", value: "K=V", description: "environment variable (repeatable)" },
      metadata,
      {
        name: "secret",
        type: "list",
        value: "NAME=HOST[,HOST]",
        description: "bind a stored secret to the hosts it may be sent to over HTTPS (repeatable)",
      },
      {
        name: "secret-allow-http",
        type: "list",
        value: "NAME",
        description: "also send that bound secret over plain HTTP, unencrypted (repeatable)",
      },
      {
        name: "volume",
        type: "list",
        value: "NAME:/PATH[:ro]",
        description: "mount a volume at PATH, read-only with :ro (repeatable)",
      },
      json,
    ],
    examples: [
      "burrow create --template python --metadata owner=ci",
      "burrow create --secret GITHUB_TOKEN=api.github.com",
    ],
  },
  async run(ctx, args) {
    const envs = keyValues(listOption(args, "env"), "env", "create");
    const labels = keyValues(listOption(args, "metadata"), "metadata", "create");
    const template = stringOption(args, "template");
    const allowHttp = new Set(listOption(args, "secret-allow-http"));
    const secrets = Object.entries(keyValues(listOption(args, "secret"), "secret", "create")).map(([name, hosts]) => ({
      name,
      hosts: hosts.split(",").filter(Boolean),
      ...(allowHttp.has(name) ? { allowHttp: true } : {}),
    }));
    const volumes = listOption(args, "volume").map(parseVolumeMount);
    const sandbox = await Sandbox.create({
      ...ctx.connection,
      ...(template === undefined ? {} : { template }),
      ...(Object.keys(envs).length > 0 ? { envs } : {}),
      ...(Object.keys(labels).length > 0 ? { metadata: labels } : {}),
      ...(secrets.length > 0 ? { secrets } : {}),
      ...(volumes.length > 0 ? { volumes } : {}),
    });
    if (flag(args, "json")) printJson(ctx.io.stdout, await sandbox.getInfo());
    else print(ctx.io.stdout, sandbox.sandboxId);
    return 0;
  },
};

export const ls: Command = {
  spec: {
    name: "ls",
    summary: "List sandboxes",
    positionals: [],
    options: [{ ...metadata, description: "only sandboxes with this label (repeatable)" }, json],
  },
  async run(ctx, args) {
    const labels = keyValues(listOption(args, "metadata"), "metadata", "ls");
    const sandboxes = await Sandbox.list({
      ...ctx.connection,
      ...(Object.keys(labels).length > 0 ? { metadata: labels } : {}),
    });
    if (flag(args, "json")) printJson(ctx.io.stdout, sandboxes);
    else print(ctx.io.stdout, sandboxTable(sandboxes));
    return 0;
  },
};

export const info: Command = {
  spec: {
    name: "info",
    summary: "Show a sandbox",
    positionals: [{ name: "id", required: true }],
    options: [json],
  },
  async run(ctx, args) {
    const sandbox = await Sandbox.getInfo(args.positionals[0] as string, ctx.connection);
    if (flag(args, "json")) printJson(ctx.io.stdout, sandbox);
    else print(ctx.io.stdout, sandboxDetails(sandbox));
    return 0;
  },
};

export const rm: Command = {
  spec: {
    name: "rm",
    summary: "Delete sandboxes",
    positionals: [{ name: "id", required: true, variadic: true }],
    options: [
      { name: "force", short: "f", type: "boolean", description: "do not fail on sandboxes that do not exist" },
    ],
  },
  async run(ctx, args) {
    let exitCode = 0;
    for (const id of args.positionals) {
      try {
        if (await Sandbox.kill(id, ctx.connection)) print(ctx.io.stdout, id);
        else if (!flag(args, "force"))
          throw new SandboxNotFoundError(ErrorCode.SandboxNotFound, `sandbox '${id}' not found`);
      } catch (err) {
        const { text, exitCode: code } = formatError(err);
        print(ctx.io.stderr, text);
        exitCode = code;
      }
    }
    return exitCode;
  },
};
