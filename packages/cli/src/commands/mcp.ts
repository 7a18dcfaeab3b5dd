/** `burrow mcp`: serve Burrow's tools to MCP clients over stdio, or over Streamable HTTP with --http. */
import type { Logger } from "@burrow/core";
import { DEFAULT_HTTP_HOST, serveHttp, serveStdio } from "@burrow/mcp";
import { intOption, stringOption, UsageError } from "../args.js";
import { type CliOutput, type Command, type Context, print } from "../context.js";

/** Log lines on stderr (stdout carries the protocol in stdio mode). */
function stderrLogger(out: CliOutput, bindings: Record<string, unknown> = {}): Logger {
  const write = (level: string) => (obj: Record<string, unknown>, msg?: string) => {
    const fields = Object.entries({ ...bindings, ...obj })
      .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
      .join(" ");
    print(out, `burrow mcp ${level}: ${msg ?? ""}${fields === "" ? "" : ` ${fields}`}`);
  };
  return {
    debug() {},
    info: write("info"),
    warn: write("warn"),
    error: write("error"),
    child: (more) => stderrLogger(out, { ...bindings, ...more }),
  };
}

/** Resolves on the first SIGINT or SIGTERM. */
function untilSignal(ctx: Context): Promise<void> {
  return new Promise((resolve) => {
    const offs = [ctx.io.onSignal("SIGINT", done), ctx.io.onSignal("SIGTERM", done)];
    function done() {
      for (const off of offs) off();
      resolve();
    }
  });
}

export const mcp: Command = {
  spec: {
    name: "mcp",
    summary: "Serve Burrow tools to MCP clients (stdio; Streamable HTTP with --http)",
    positionals: [],
    options: [
      {
        name: "http",
        type: "string",
        value: "PORT",
        description: "serve Streamable HTTP on PORT (0: a free one) instead of stdio; clients send a Bearer API key",
      },
      { name: "host", type: "string", value: "HOST", description: `address for --http (default ${DEFAULT_HTTP_HOST})` },
    ],
    examples: ["claude mcp add burrow -- npx burrow mcp", "burrow mcp --http 7071"],
  },
  async run(ctx, args) {
    const port = intOption(args, "http", "mcp");
    const host = stringOption(args, "host");
    const logger = stderrLogger(ctx.io.stderr);
    if (port === undefined) {
      if (host !== undefined) throw new UsageError("--host needs --http", "mcp");
      await serveStdio({ connection: ctx.connection, logger });
      return 0;
    }
    if (port > 65_535) throw new UsageError(`--http expects a port from 0 to 65535, got ${port}`, "mcp");
    if (ctx.connection.apiKey !== undefined) {
      throw new UsageError(
        "--api-key does not apply to --http: each client sends its own key as a Bearer token",
        "mcp",
      );
    }
    const { apiUrl } = ctx.connection;
    const server = await serveHttp({
      port,
      ...(host === undefined ? {} : { host }),
      connection: apiUrl === undefined ? {} : { apiUrl },
      logger,
    });
    print(ctx.io.stdout, `Burrow MCP server listening on ${server.url}`);
    await untilSignal(ctx);
    await server.close();
    return 0;
  },
};
