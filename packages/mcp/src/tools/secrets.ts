/** Secret tools: which stored secrets a sandbox can be given. Values never reach the model. */
import { Secrets } from "@burrow/sdk";
import { jsonResult } from "../results.js";
import { defineTool, type ToolGroup } from "./registry.js";

const secretList = defineTool({
  name: "secret_list",
  title: "List stored secrets",
  description:
    "List the names of the secrets stored in Burrow (API tokens and the like that a person put there). Pass them " +
    "to sandbox_create's `secrets` with the hosts each may be sent to: inside the sandbox the env var NAME holds " +
    "only the placeholder {{secret:NAME}}, and Burrow puts the real value into requests to those hosts. Values " +
    "are never shown, here or anywhere.",
  inputSchema: {},
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async run(_args, session, signal) {
    const secrets = await Secrets.list(session.api(signal));
    return jsonResult({ secrets: secrets.map((s) => ({ name: s.name, updatedAt: s.updatedAt })) });
  },
});

export const secretTools: ToolGroup = [secretList];
