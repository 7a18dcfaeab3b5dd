/** Sleep and wake commands: pause, hibernate, resume, restart, keepalive, events. */
import { Sandbox, type SandboxEvent, type SandboxInfo } from "@burrow/sdk";
import { flag, type OptionSpec, stringOption, UsageError } from "../args.js";
import { type Command, print, printJson } from "../context.js";

const json: OptionSpec = { name: "json", type: "boolean", description: "print JSON" };

function action(name: string, summary: string, act: (sandbox: Sandbox) => Promise<SandboxInfo>): Command {
  return {
    spec: { name, summary, positionals: [{ name: "id", required: true }], options: [json] },
    async run(ctx, args) {
      const sandbox = await Sandbox.connect(args.positionals[0] as string, ctx.connection);
      const info = await act(sandbox);
      if (flag(args, "json")) printJson(ctx.io.stdout, info);
      else print(ctx.io.stdout, `${info.id} ${info.state}`);
      return 0;
    },
  };
}

export const pause = action("pause", "Put a sandbox in standby (frozen, memory kept)", (s) => s.pause());
export const hibernate = action("hibernate", "Hibernate a sandbox (memory and processes to disk)", (s) =>
  s.hibernate(),
);
export const resume = action("resume", "Wake a sleeping sandbox", (s) => s.resume());
export const restart = action("restart", "Start a sandbox afresh on its files", (s) => s.restart());

export const keepalive: Command = {
  spec: {
    name: "keepalive",
    summary: "Keep a sandbox awake for a while",
    positionals: [{ name: "id", required: true }],
    options: [{ name: "for", type: "string", value: "MS", description: "milliseconds (default: its standby delay)" }],
  },
  async run(ctx, args) {
    const raw = stringOption(args, "for");
    const ms = raw === undefined ? undefined : Number(raw);
    if (ms !== undefined && (!Number.isInteger(ms) || ms <= 0)) {
      throw new UsageError(`--for must be a positive whole number of milliseconds, got '${raw}'`, "keepalive");
    }
    const sandbox = await Sandbox.connect(args.positionals[0] as string, ctx.connection);
    const info = await sandbox.keepAlive(ms);
    print(ctx.io.stdout, `${info.id} ${info.state}`);
    return 0;
  },
};

function eventLine(e: SandboxEvent): string {
  const move = e.from && e.to ? ` ${e.from} → ${e.to}` : "";
  const took = e.durationMs === undefined ? "" : ` (${e.durationMs} ms)`;
  return `${e.at}  ${e.type.padEnd(16)}${move}  ${e.reason}${took}`;
}

export const events: Command = {
  spec: {
    name: "events",
    summary: "Show a sandbox's lifecycle events",
    positionals: [{ name: "id", required: true }],
    options: [json],
  },
  async run(ctx, args) {
    const sandbox = await Sandbox.connect(args.positionals[0] as string, ctx.connection);
    const list = await sandbox.events();
    if (flag(args, "json")) printJson(ctx.io.stdout, list);
    else print(ctx.io.stdout, list.map(eventLine).join("\n"));
    return 0;
  },
};
