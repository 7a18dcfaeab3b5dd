/** `createBurrowMcpServer`: one MCP server (one client session) with every Burrow tool and resource. */

import { type Logger, silentLogger } from "@burrow/core";
import type { ConnectionOptions } from "@burrow/sdk";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { registerFileResources } from "./resources.js";
import { Session } from "./session.js";
import { checkpointTools } from "./tools/checkpoints.js";
import { codeTools } from "./tools/code.js";
import { commandTools } from "./tools/commands.js";
import { fileTools } from "./tools/files.js";
import { previewTools } from "./tools/previews.js";
import type { ToolGroup } from "./tools/registry.js";
import { sandboxTools } from "./tools/sandboxes.js";
import { secretTools } from "./tools/secrets.js";

/** Every tool group the server offers; checkpoint and preview tools join here once the server has them. */
export const TOOL_GROUPS: readonly ToolGroup[] = [
  sandboxTools,
  commandTools,
  fileTools,
  checkpointTools,
  previewTools,
  secretTools,
  codeTools,
];

export const SERVER_NAME = "burrow";
export const SERVER_VERSION = "0.1.0";

const INSTRUCTIONS =
  "Burrow gives you isolated Linux sandboxes (Debian with bash, python3, nodejs, git). Create one with " +
  "sandbox_create and pass its sandboxId to the other tools. Paths are absolute or relative to /home/user. Use " +
  "run_command for commands that finish, start_background_command + read_command_output for long-running ones, " +
  "edit_file for precise changes. Delete sandboxes you no longer need with sandbox_delete.";

export interface BurrowMcpOptions {
  /**
   * How this session reaches Burrow. Unset fields resolve as in the SDK: `BURROW_API_URL`,
   * `BURROW_API_KEY`, then the local defaults.
   */
  connection?: ConnectionOptions;
  logger?: Logger;
}

/**
 * Creates an MCP server exposing Burrow's tools and file resources. Connect it to one
 * transport; closing it stops following background processes (they keep running).
 */
export function createBurrowMcpServer(options: BurrowMcpOptions = {}): McpServer {
  const session = new Session(options.connection ?? {}, options.logger ?? silentLogger);
  const server = new McpServer(
    { name: SERVER_NAME, title: "Burrow sandboxes", version: SERVER_VERSION },
    { instructions: INSTRUCTIONS, capabilities: { tools: {}, resources: {} } },
  );
  for (const group of TOOL_GROUPS) for (const tool of group) tool.register(server, session);
  registerFileResources(server, session);
  server.server.onclose = () => {
    void session.dispose();
  };
  return server;
}

/** Names of every tool, in registration order. */
export function toolNames(): string[] {
  return TOOL_GROUPS.flatMap((group) => group.map((tool) => tool.name));
}
