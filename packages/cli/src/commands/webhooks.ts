/** `burrow webhook`: add, list, delete and test webhooks, and read their delivery log. */
import { Webhooks } from "@burrow/sdk";
import { flag, stringOption, UsageError } from "../args.js";
import { type Command, print, printJson } from "../context.js";

const ACTIONS = ["create", "ls", "rm", "test", "deliveries"] as const;

export const webhook: Command = {
  spec: {
    name: "webhook",
    summary: "Add (create), list (ls), delete (rm) or test webhooks; show a webhook's deliveries",
    positionals: [
      { name: "action", required: true },
      { name: "target", required: false },
    ],
    options: [
      {
        name: "events",
        type: "string",
        value: "LIST",
        description: "comma-separated event names or patterns for create (default *)",
      },
      { name: "json", type: "boolean", description: "print JSON" },
    ],
    examples: [
      "burrow webhook create https://example.com/burrow --events 'sandbox.*,template.build.*'",
      "burrow webhook test wh_…",
      "burrow webhook deliveries wh_…",
    ],
  },
  async run(ctx, args) {
    const [action, target] = args.positionals;
    if (!ACTIONS.includes(action as (typeof ACTIONS)[number])) {
      throw new UsageError(`unknown action '${action}': use ${ACTIONS.join(", ")}`, "webhook");
    }
    const json = flag(args, "json");
    if (action === "ls") {
      const hooks = await Webhooks.list(ctx.connection);
      if (json) printJson(ctx.io.stdout, hooks);
      else for (const h of hooks) print(ctx.io.stdout, `${h.id}\t${h.url}\t${h.events.join(",")}`);
      return 0;
    }
    if (target === undefined) {
      throw new UsageError(
        `burrow webhook ${action} needs ${action === "create" ? "a URL" : "a webhook id"}`,
        "webhook",
      );
    }
    if (action === "create") {
      const events = stringOption(args, "events")
        ?.split(",")
        .map((e) => e.trim())
        .filter((e) => e !== "");
      const hook = await Webhooks.create(target, { ...ctx.connection, ...(events ? { events } : {}) });
      if (json) printJson(ctx.io.stdout, hook);
      else {
        print(ctx.io.stdout, `${hook.id}\t${hook.url}\t${hook.events.join(",")}`);
        print(ctx.io.stdout, `secret (shown once): ${hook.secret}`);
      }
      return 0;
    }
    if (action === "rm") {
      if (!(await Webhooks.delete(target, ctx.connection))) {
        print(ctx.io.stderr, `no webhook ${target}`);
        return 1;
      }
      return 0;
    }
    if (action === "test") {
      const delivery = await Webhooks.test(target, ctx.connection);
      if (json) printJson(ctx.io.stdout, delivery);
      else print(ctx.io.stdout, `queued ${delivery.id}`);
      return 0;
    }
    const deliveries = await Webhooks.deliveries(target, ctx.connection);
    if (json) printJson(ctx.io.stdout, deliveries);
    else {
      for (const d of deliveries) {
        const last = d.attempts.at(-1);
        const answer = last === undefined ? "" : `\tlast: ${last.status ?? last.error ?? "?"}`;
        print(ctx.io.stdout, `${d.id}\t${d.event}\t${d.status}\t${d.attempts.length} attempt(s)${answer}`);
      }
    }
    return 0;
  },
};
