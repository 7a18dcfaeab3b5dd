/** Successful tool results: text for the model, structured content for programs. */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";

/** A result whose text is `value` as JSON, also given as structuredContent. */
export function jsonResult(value: object): CallToolResult {
  const structured: Record<string, unknown> = { ...value };
  return { content: [{ type: "text", text: JSON.stringify(value, null, 2) }], structuredContent: structured };
}

/** A plain-text result, optionally with structured content. */
export function textResult(text: string, structured?: Record<string, unknown>): CallToolResult {
  const result: CallToolResult = { content: [{ type: "text", text }] };
  if (structured !== undefined) result.structuredContent = structured;
  return result;
}
