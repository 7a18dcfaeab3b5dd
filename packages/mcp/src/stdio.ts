/** Serving one MCP client over stdio (the client starts `burrow mcp` as a child process). */
import type { Readable, Writable } from "node:stream";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { type BurrowMcpOptions, createBurrowMcpServer } from "./server.js";

export interface StdioOptions extends BurrowMcpOptions {
  /** Default process.stdin. */
  stdin?: Readable;
  /** Default process.stdout; nothing else may write to it. */
  stdout?: Writable;
}

/** Serves until the client closes stdin (or the server is closed); then resolves. */
export async function serveStdio(options: StdioOptions = {}): Promise<void> {
  const stdin = options.stdin ?? process.stdin;
  const stdout = options.stdout ?? process.stdout;
  const server = createBurrowMcpServer(options);
  const transport = new StdioServerTransport(stdin, stdout);
  const closed = new Promise<void>((resolve) => {
    transport.onclose = resolve;
  });
  await server.connect(transport);
  const end = () => {
    void server.close();
  };
  stdin.once("end", end);
  stdin.once("close", end);
  try {
    await closed;
  } finally {
    stdin.off("end", end);
    stdin.off("close", end);
  }
}
