/** Preview tool: a URL for a server the agent started in a sandbox. */
import { z } from "zod";
import { jsonResult } from "../results.js";
import { defineTool, type ToolGroup } from "./registry.js";
import { sandboxIdSchema } from "./sandboxes.js";

const getPreviewUrl = defineTool({
  name: "get_preview_url",
  title: "Get preview URL",
  description:
    "Get a URL that reaches a port inside the sandbox (a dev server, notebook or API you started there), " +
    "through the Burrow server; a sleeping sandbox wakes on the first request. Private by default: the URL " +
    "carries a token (also returned as 'token', for the X-Burrow-Preview-Token header). public: true makes a " +
    "URL anyone can open.",
  inputSchema: {
    sandboxId: sandboxIdSchema,
    port: z.number().int().min(1).max(65535).describe("The port the server in the sandbox listens on, e.g. 8000"),
    public: z.boolean().optional().describe("Anyone with the URL may use it (default false: token needed)"),
    expiresInMs: z.number().int().min(1000).optional().describe("Stop working after this many milliseconds"),
  },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  async run(args, session, signal) {
    const sandbox = await session.sandbox(args.sandboxId, signal);
    const preview = await sandbox.previews.create(args.port, {
      signal,
      ...(args.public === undefined ? {} : { public: args.public }),
      ...(args.expiresInMs === undefined ? {} : { expiresInMs: args.expiresInMs }),
    });
    return jsonResult(preview);
  },
});

export const previewTools: ToolGroup = [getPreviewUrl];
