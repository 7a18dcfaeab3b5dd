/** Calling tools from a test's MCP client and reading their results. */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";

export interface ToolOutcome {
  isError: boolean;
  text: string;
  structured: Record<string, unknown> | undefined;
}

export async function callTool(client: Client, name: string, args: Record<string, unknown>): Promise<ToolOutcome> {
  const result = await client.callTool({ name, arguments: args });
  const content = (result.content ?? []) as Array<{ type: string; text?: string }>;
  return {
    isError: result.isError === true,
    text: content.map((c) => c.text ?? "").join(""),
    structured: result.structuredContent as Record<string, unknown> | undefined,
  };
}
