/** `burrow egress`: show or replace a sandbox's egress policy. */
import { Sandbox } from "@burrow/sdk";
import { flag, listOption, stringOption, UsageError } from "../args.js";
import { type Command, print, printJson } from "../context.js";

export const egress: Command = {
  spec: {
    name: "egress",
    summary: "Show a sandbox's egress policy, or replace it (--default, --allow, --deny)",
    positionals: [{ name: "id", required: true }],
    options: [
      { name: "default", type: "string", value: "allow|deny", description: "what entries do not name" },
      { name: "allow", type: "list", value: "ENTRY", description: "domain, *.domain or CIDR to allow (repeatable)" },
      { name: "deny", type: "list", value: "ENTRY", description: "domain, *.domain or CIDR to deny (repeatable)" },
      { name: "json", type: "boolean", description: "print JSON" },
    ],
    examples: ["burrow egress sb_…", "burrow egress --default deny --allow pypi.org --allow '*.pythonhosted.org' sb_…"],
  },
  async run(ctx, args) {
    const sandbox = await Sandbox.connect(args.positionals[0] as string, ctx.connection);
    const def = stringOption(args, "default");
    const allow = listOption(args, "allow");
    const deny = listOption(args, "deny");
    if (def !== undefined && def !== "allow" && def !== "deny") {
      throw new UsageError(`--default must be allow or deny, got '${def}'`, "egress");
    }
    const changing = def !== undefined || allow.length > 0 || deny.length > 0;
    const policy = changing
      ? await sandbox.setEgress({ default: def ?? (allow.length > 0 ? "deny" : "allow"), allow, deny })
      : await sandbox.getEgress();
    if (flag(args, "json")) printJson(ctx.io.stdout, policy);
    else {
      print(ctx.io.stdout, `default: ${policy.default}`);
      if (policy.allow.length) print(ctx.io.stdout, `allow: ${policy.allow.join(" ")}`);
      if (policy.deny.length) print(ctx.io.stdout, `deny: ${policy.deny.join(" ")}`);
    }
    return 0;
  },
};
