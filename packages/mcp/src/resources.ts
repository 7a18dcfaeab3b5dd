/**
 * Sandbox files as MCP resources: `burrow://{sandboxId}/{+path}` names the absolute path
 * `/{path}` in that sandbox. UTF-8 files come back as text, other files as a base64 blob, and
 * directories as a listing of their entries.
 */
import { Sandbox } from "@burrow/sdk";
import { type McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import { McpError, ErrorCode as McpErrorCode, type ReadResourceResult } from "@modelcontextprotocol/sdk/types.js";
import { formatError } from "./errors.js";
import { decodeUtf8, encodeBase64, readBounded } from "./file-io.js";
import { SANDBOX_HOME } from "./paths.js";
import type { Session } from "./session.js";
import { MAX_FILE_BYTES } from "./truncate.js";

export const RESOURCE_URI_TEMPLATE = "burrow://{sandboxId}/{+path}";

/** Sandboxes in these states have no files to offer. */
const UNREADABLE_STATES: ReadonlySet<string> = new Set(["error", "deleting", "deleted"]);

/** The resource URI of an absolute path in a sandbox. */
export function resourceUri(sandboxId: string, path: string): string {
  const encoded = path
    .replace(/^\/+/, "")
    .split("/")
    .map((segment) => encodeURIComponent(segment))
    .join("/");
  return `burrow://${sandboxId}/${encoded}`;
}

function variable(value: string | string[] | undefined): string {
  return Array.isArray(value) ? value.join(",") : (value ?? "");
}

async function readResource(session: Session, uri: URL, sandboxId: string, rawPath: string, signal: AbortSignal) {
  const path = `/${decodeURIComponent(rawPath)}`;
  const sandbox = await session.sandbox(sandboxId, signal);
  const info = await sandbox.files.getInfo(path, { signal });
  if (info.type === "dir") {
    const entries = await sandbox.files.list(path, { depth: 1, signal });
    const lines = entries
      .map((e) => (e.type === "dir" ? `${e.name}/` : e.name))
      .sort((a, b) => a.localeCompare(b))
      .join("\n");
    return { contents: [{ uri: uri.href, mimeType: "text/plain", text: lines }] };
  }
  const { bytes, complete } = await readBounded(sandbox, path, MAX_FILE_BYTES, signal);
  if (!complete) {
    throw new McpError(
      McpErrorCode.InvalidParams,
      `${path} is larger than ${MAX_FILE_BYTES} bytes; read it in parts with the read_file tool`,
    );
  }
  const text = decodeUtf8(bytes);
  if (text !== undefined) return { contents: [{ uri: uri.href, mimeType: "text/plain", text }] };
  return { contents: [{ uri: uri.href, mimeType: "application/octet-stream", blob: encodeBase64(bytes) }] };
}

/** Registers the file resource template; listing resources offers each sandbox's home directory. */
export function registerFileResources(server: McpServer, session: Session): void {
  const template = new ResourceTemplate(RESOURCE_URI_TEMPLATE, {
    list: async (extra) => {
      const sandboxes = await Sandbox.list(session.api(extra.signal));
      return {
        resources: sandboxes
          .filter((s) => !UNREADABLE_STATES.has(s.state))
          .map((s) => ({
            uri: resourceUri(s.id, SANDBOX_HOME),
            name: `${s.id}${SANDBOX_HOME}`,
            description: `Home directory of sandbox ${s.id} (${s.template})`,
            mimeType: "text/plain",
          })),
      };
    },
  });
  server.registerResource(
    "sandbox-file",
    template,
    {
      title: "Sandbox file",
      description:
        "A file or directory inside a Burrow sandbox: burrow://<sandboxId>/<absolute path without the leading slash>, " +
        "e.g. burrow://sb_3xq…/home/user/app.py. Text files are returned as text, binary files as base64 blobs, " +
        "directories as a list of entry names (subdirectories end in '/').",
    },
    async (uri, variables, extra): Promise<ReadResourceResult> => {
      try {
        return await readResource(session, uri, variable(variables.sandboxId), variable(variables.path), extra.signal);
      } catch (err) {
        if (err instanceof McpError) throw err;
        throw new McpError(McpErrorCode.InvalidParams, formatError(err));
      }
    },
  );
}
