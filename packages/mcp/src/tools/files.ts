/** File tools: read, write, list and edit files inside a sandbox. */
import { type EntryInfo, ErrorCode, InvalidArgumentError, type Sandbox } from "@burrow/sdk";
import { z } from "zod";
import { applyEdit } from "../edit.js";
import { decodeBase64, decodeUtf8, encodeBase64, readBounded } from "../file-io.js";
import { resolveSandboxPath, SANDBOX_HOME } from "../paths.js";
import { jsonResult, textResult } from "../results.js";
import { MAX_FILE_BYTES, MAX_FILE_CHARS, sliceHead } from "../truncate.js";
import { defineTool, type ToolGroup } from "./registry.js";
import { sandboxIdSchema } from "./sandboxes.js";

/** Largest file read_file returns as base64 (its encoding stays within MAX_FILE_CHARS). */
export const MAX_BASE64_BYTES = (MAX_FILE_CHARS / 4) * 3;
/** Most entries list_files returns. */
export const MAX_LIST_ENTRIES = 1_000;
const MAX_LIST_DEPTH = 10;

const pathSchema = z
  .string()
  .min(1)
  .describe(`File path in the sandbox: absolute, or relative to ${SANDBOX_HOME} (e.g. 'src/app.py')`);
const encodingSchema = z.enum(["utf8", "base64"]);

/** Stats `path` and fails with a hint when it is a directory. */
async function requireFile(sandbox: Sandbox, path: string, signal: AbortSignal): Promise<EntryInfo> {
  const info = await sandbox.files.getInfo(path, { signal });
  if (info.type === "dir") {
    throw new InvalidArgumentError(ErrorCode.BadRequest, `${path} is a directory`, {
      details: { hint: "use list_files to see what it contains" },
    });
  }
  return info;
}

function notText(path: string): InvalidArgumentError {
  return new InvalidArgumentError(ErrorCode.BadRequest, `${path} is not UTF-8 text`, {
    details: { hint: "read it with encoding: 'base64', or inspect it with run_command (file, xxd, head -c)" },
  });
}

/** Lines `offset`… of `text` (1-based), at most `limit` of them, with the range they cover. */
function selectLines(text: string, offset: number | undefined, limit: number | undefined) {
  if (offset === undefined && limit === undefined) return { text, range: undefined };
  const lines = text.split("\n");
  const total = text.endsWith("\n") ? lines.length - 1 : lines.length;
  const first = Math.max(1, offset ?? 1);
  const last = Math.min(total, limit === undefined ? total : first + limit - 1);
  const slice = first > total ? "" : lines.slice(first - 1, last).join("\n");
  const trailing = last < total || text.endsWith("\n") ? "\n" : "";
  return { text: slice === "" ? "" : `${slice}${trailing}`, range: { first, last, total } };
}

const readFile = defineTool({
  name: "read_file",
  title: "Read file",
  description:
    "Read a file from a sandbox. Returns its text exactly (no line numbers added), or base64 with encoding: " +
    `'base64' (files up to ${MAX_BASE64_BYTES} bytes). Text beyond ${MAX_FILE_CHARS} characters is cut with a note; ` +
    "read long files in parts with offset and limit (in lines).",
  inputSchema: {
    sandboxId: sandboxIdSchema,
    path: pathSchema,
    offset: z.number().int().positive().optional().describe("First line to return, 1-based; default 1"),
    limit: z.number().int().positive().optional().describe("Most lines to return; default: all"),
    encoding: encodingSchema.optional().describe("'utf8' (default) for text, 'base64' for binary files"),
  },
  annotations: { readOnlyHint: true, openWorldHint: false },
  async run(args, session, signal) {
    const path = resolveSandboxPath(args.path);
    const sandbox = await session.sandbox(args.sandboxId, signal);
    const info = await requireFile(sandbox, path, signal);
    if (args.encoding === "base64") {
      if (info.size > MAX_BASE64_BYTES) {
        throw new InvalidArgumentError(ErrorCode.PayloadTooLarge, `${path} has ${info.size} bytes`, {
          details: { hint: `base64 reads take files up to ${MAX_BASE64_BYTES} bytes; use run_command (head -c, xxd)` },
        });
      }
      const { bytes } = await readBounded(sandbox, path, MAX_BASE64_BYTES, signal);
      return textResult(encodeBase64(bytes));
    }
    const { bytes, complete } = await readBounded(sandbox, path, MAX_FILE_BYTES, signal);
    const text = decodeUtf8(bytes, complete);
    if (text === undefined) throw notText(path);
    const notes: string[] = [];
    if (!complete) notes.push(`only the first ${MAX_FILE_BYTES} bytes of this file can be read here`);
    const selected = selectLines(text, args.offset, args.limit);
    if (selected.range !== undefined) {
      const { first, last, total } = selected.range;
      notes.push(
        first > total ? `no line ${first}: the file has ${total} lines` : `lines ${first}-${last} of ${total}`,
      );
    }
    let body = selected.text;
    if (body.length > MAX_FILE_CHARS) {
      body = sliceHead(body, MAX_FILE_CHARS);
      notes.push(
        `truncated after ${body.length} of ${selected.text.length} characters; pass offset and limit to read the rest`,
      );
    }
    return textResult(notes.length === 0 ? body : `${body}\n[${notes.join("; ")}]`);
  },
});

const writeFile = defineTool({
  name: "write_file",
  title: "Write file",
  description:
    "Create or overwrite a file in a sandbox with the given content, creating missing parent directories. An " +
    "existing file keeps its permissions. For small changes to an existing file prefer edit_file.",
  inputSchema: {
    sandboxId: sandboxIdSchema,
    path: pathSchema,
    content: z.string().describe("The complete new content of the file"),
    encoding: encodingSchema.optional().describe("'utf8' (default), or 'base64' when content is base64-encoded bytes"),
  },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  async run(args, session, signal) {
    const path = resolveSandboxPath(args.path);
    let data: Uint8Array | string = args.content;
    if (args.encoding === "base64") {
      const bytes = decodeBase64(args.content);
      if (bytes === undefined) {
        throw new InvalidArgumentError(ErrorCode.BadRequest, "content is not valid base64", {
          details: { hint: "pass standard base64 (A-Z, a-z, 0-9, +, /, = padding), or use encoding: 'utf8' for text" },
        });
      }
      data = bytes;
    }
    const sandbox = await session.sandbox(args.sandboxId, signal);
    await sandbox.files.write(path, data, { signal });
    const bytes = typeof data === "string" ? Buffer.byteLength(data) : data.length;
    return jsonResult({ path, bytes });
  },
});

function entryLine(entry: EntryInfo): string {
  if (entry.type === "dir") return `dir      ${entry.path}/`;
  if (entry.type === "symlink") return `symlink  ${entry.path} -> ${entry.symlinkTarget ?? "?"}`;
  return `${(entry.type ?? "other").padEnd(8)} ${entry.path}  (${entry.size} bytes)`;
}

const listFiles = defineTool({
  name: "list_files",
  title: "List files",
  description:
    `List a directory in a sandbox (default ${SANDBOX_HOME}): each entry's type, path and size. depth > 1 also ` +
    `lists subdirectories that many levels down. At most ${MAX_LIST_ENTRIES} entries are returned.`,
  inputSchema: {
    sandboxId: sandboxIdSchema,
    path: pathSchema.optional().describe(`Directory, absolute or relative to ${SANDBOX_HOME}; default ${SANDBOX_HOME}`),
    depth: z
      .number()
      .int()
      .min(1)
      .max(MAX_LIST_DEPTH)
      .optional()
      .describe("Levels to descend; default 1 (the directory's own entries)"),
  },
  annotations: { readOnlyHint: true, openWorldHint: false },
  async run(args, session, signal) {
    const path = resolveSandboxPath(args.path ?? SANDBOX_HOME);
    const sandbox = await session.sandbox(args.sandboxId, signal);
    const entries = await sandbox.files.list(path, { depth: args.depth ?? 1, signal });
    entries.sort((a, b) => a.path.localeCompare(b.path));
    const shown = entries.slice(0, MAX_LIST_ENTRIES);
    const lines = [`${path}: ${entries.length} entries`, ...shown.map(entryLine)];
    if (entries.length > shown.length) {
      lines.push(`[... ${entries.length - shown.length} more entries; list a subdirectory or lower depth]`);
    }
    return textResult(lines.join("\n"), {
      path,
      total: entries.length,
      entries: shown.map((e) => ({ path: e.path, type: e.type ?? "other", size: e.size })),
    });
  },
});

const editFile = defineTool({
  name: "edit_file",
  title: "Edit file",
  description:
    "Replace an exact piece of text in a UTF-8 file in a sandbox. oldText must match the file exactly, including " +
    "whitespace and indentation, and occur exactly once (include surrounding lines to make it unique), unless " +
    "replaceAll is true. Fails without changing the file when oldText is absent or not unique. Returns the number " +
    "of replacements.",
  inputSchema: {
    sandboxId: sandboxIdSchema,
    path: pathSchema,
    oldText: z.string().min(1).describe("The exact text to replace"),
    newText: z.string().describe("The text to put in its place (may be empty to delete oldText)"),
    replaceAll: z.boolean().optional().describe("Replace every occurrence instead of requiring exactly one"),
  },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  async run(args, session, signal) {
    const path = resolveSandboxPath(args.path);
    const sandbox = await session.sandbox(args.sandboxId, signal);
    await requireFile(sandbox, path, signal);
    const { bytes, complete } = await readBounded(sandbox, path, MAX_FILE_BYTES, signal);
    if (!complete) {
      throw new InvalidArgumentError(ErrorCode.PayloadTooLarge, `${path} is larger than ${MAX_FILE_BYTES} bytes`, {
        details: { hint: "edit it with run_command (sed, python3)" },
      });
    }
    const text = decodeUtf8(bytes);
    if (text === undefined) throw notText(path);
    const edit = applyEdit(
      text,
      {
        oldText: args.oldText,
        newText: args.newText,
        ...(args.replaceAll === undefined ? {} : { replaceAll: args.replaceAll }),
      },
      path,
    );
    await sandbox.files.write(path, edit.content, { signal });
    return jsonResult({ path, replacements: edit.replacements });
  },
});

export const fileTools: ToolGroup = [readFile, writeFile, listFiles, editFile];
