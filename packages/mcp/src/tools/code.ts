/** The code interpreter tool: Python or JavaScript in a code-interpreter sandbox's kernel. */
import type { CodeResult } from "@burrow/sdk";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { HeadTailBuffer, MAX_OUTPUT_CHARS } from "../truncate.js";
import { defineTool, type ToolGroup } from "./registry.js";
import { sandboxIdSchema } from "./sandboxes.js";

export const DEFAULT_CODE_TIMEOUT_MS = 60_000;
const MAX_CODE_TIMEOUT_MS = 60 * 60_000;
/** Most images one run_code result carries (charts beyond that are counted, not sent). */
const MAX_IMAGES = 10;

type Content = CallToolResult["content"][number];

const runCode = defineTool({
  name: "run_code",
  title: "Run code",
  description:
    "Run Python (default) or JavaScript in the stateful kernel of a sandbox created from the 'code-interpreter' " +
    "template (sandbox_create with template 'code-interpreter'). Variables, imports and loaded data persist between " +
    "calls, also across sleep. Python has pandas, numpy and matplotlib: charts (plt.show() or a figure as the last " +
    "expression) come back as images, DataFrames as text tables. Returns stdout, stderr, the results and any " +
    "exception with its traceback; an exception is a normal result, not a failure of this tool. The code is " +
    `interrupted after timeoutMs (default ${DEFAULT_CODE_TIMEOUT_MS / 1000} s); the variables stay.`,
  inputSchema: {
    sandboxId: sandboxIdSchema,
    code: z.string().describe("The code to run, like a notebook cell: the last expression's value is the result"),
    language: z.enum(["python", "js"]).optional().describe("python (default) or js (Node.js)"),
    timeoutMs: z
      .number()
      .int()
      .positive()
      .max(MAX_CODE_TIMEOUT_MS)
      .optional()
      .describe(`Interrupt the code after this many milliseconds; default ${DEFAULT_CODE_TIMEOUT_MS}`),
  },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  async run(args, session, signal) {
    const sandbox = await session.sandbox(args.sandboxId, signal);
    const stdout = new HeadTailBuffer(MAX_OUTPUT_CHARS);
    const stderr = new HeadTailBuffer(MAX_OUTPUT_CHARS);
    const execution = await sandbox.runCode(args.code, {
      signal,
      timeoutMs: args.timeoutMs ?? DEFAULT_CODE_TIMEOUT_MS,
      ...(args.language === undefined ? {} : { language: args.language }),
      onStdout: (text) => stdout.push(text),
      onStderr: (text) => stderr.push(text),
    });
    const content: Content[] = [];
    const texts: string[] = [];
    let images = 0;
    let skipped = 0;
    for (const result of execution.results) {
      const image = imageOf(result);
      if (image !== undefined) {
        if (images < MAX_IMAGES) content.push(image);
        else skipped += 1;
        images += 1;
        continue;
      }
      const text =
        result.text ?? result.markdown ?? (result.json === undefined ? undefined : JSON.stringify(result.json));
      if (text !== undefined) texts.push(result.isMainResult ? `--- result ---\n${text}` : `--- display ---\n${text}`);
    }
    const parts: string[] = [];
    const out = stdout.take();
    const err = stderr.take();
    if (out !== "") parts.push(`--- stdout ---\n${out}`);
    if (err !== "") parts.push(`--- stderr ---\n${err}`);
    parts.push(...texts.map((t) => limit(t)));
    if (skipped > 0) parts.push(`[${skipped} more images not included]`);
    if (execution.error !== undefined) {
      const { name, value, traceback } = execution.error;
      parts.push(`--- error: ${name}: ${value} ---\n${limit(stripAnsi(traceback))}`);
    }
    if (parts.length === 0) parts.push(images > 0 ? "(images only)" : "(no output)");
    const result: CallToolResult = {
      content: [{ type: "text", text: parts.join("\n") }, ...content],
      structuredContent: {
        executionCount: execution.executionCount ?? null,
        error: execution.error ?? null,
        images,
      },
    };
    return result;
  },
});

function imageOf(result: CodeResult): Content | undefined {
  if (result.png !== undefined) return { type: "image", data: result.png, mimeType: "image/png" };
  if (result.jpeg !== undefined) return { type: "image", data: result.jpeg, mimeType: "image/jpeg" };
  return undefined;
}

function limit(text: string): string {
  const buffer = new HeadTailBuffer(MAX_OUTPUT_CHARS);
  buffer.push(text);
  return buffer.take();
}

/** IPython tracebacks carry terminal colours; a model reads them as noise. */
function stripAnsi(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching the ESC of ANSI sequences
  return text.replace(/\u001b\[[0-9;]*m/g, "");
}

export const codeTools: ToolGroup = [runCode];
