/**
 * Tool definitions and their registration. Each tool group is a module exporting a list of
 * tools; `TOOL_GROUPS` in ../server.ts lists the groups, so a new group (checkpoints, previews)
 * is one module and one line.
 */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { ZodRawShapeCompat } from "@modelcontextprotocol/sdk/server/zod-compat.js";
import type { CallToolResult, ToolAnnotations } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { toolError } from "../errors.js";
import type { Session } from "../session.js";

export interface ToolSpec<Shape extends z.ZodRawShape> {
  name: string;
  title: string;
  /** What the tool does, when to use it, and what it returns: the model reads this. */
  description: string;
  inputSchema: Shape;
  annotations: ToolAnnotations;
  run(args: z.output<z.ZodObject<Shape>>, session: Session, signal: AbortSignal): Promise<CallToolResult>;
}

/** A tool ready to register on a server for a session. */
export interface BurrowTool {
  readonly name: string;
  register(server: McpServer, session: Session): void;
}

export type ToolGroup = readonly BurrowTool[];

/** Wraps a spec so any thrown error becomes an `isError` result instead of a protocol error. */
export function defineTool<Shape extends z.ZodRawShape>(spec: ToolSpec<Shape>): BurrowTool {
  const schema = z.object(spec.inputSchema);
  // The MCP SDK validates arguments against this shape (answering mistakes with an isError
  // result); parsing again here gives the handler its precise type.
  const inputSchema: ZodRawShapeCompat = spec.inputSchema;
  return {
    name: spec.name,
    register(server, session) {
      server.registerTool(
        spec.name,
        {
          title: spec.title,
          description: spec.description,
          inputSchema,
          annotations: { title: spec.title, ...spec.annotations },
        },
        async (args, extra) => {
          try {
            return await spec.run(schema.parse(args), session, extra.signal);
          } catch (err) {
            session.logger.debug({ tool: spec.name, err: String(err) }, "tool call failed");
            return toolError(err);
          }
        },
      );
    },
  };
}
