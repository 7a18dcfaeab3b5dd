/** `burrow run-code`: run Python or JavaScript in a code-interpreter sandbox's kernel. */
import { readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { type CodeLanguage, type CodeResult, Sandbox } from "@burrow/sdk";
import { flag, intOption, keyValues, listOption, stringOption, UsageError } from "../args.js";
import type { Command, Context } from "../context.js";

/** Binary and document formats written to files; the others are printed. */
const FILE_FORMATS = [
  ["png", "png", "base64"],
  ["jpeg", "jpg", "base64"],
  ["pdf", "pdf", "base64"],
  ["svg", "svg", "utf8"],
] as const;

export const runCode: Command = {
  spec: {
    name: "run-code",
    summary: "Run code in a code-interpreter sandbox (state persists between runs)",
    positionals: [
      { name: "id", required: true },
      { name: "file", required: false },
    ],
    options: [
      { name: "language", short: "l", type: "string", value: "LANG", description: "python (default) or js" },
      {
        name: "context",
        short: "c",
        type: "string",
        value: "ID",
        description: "a context id instead of the language's default",
      },
      {
        name: "env",
        short: "e",
        type: "list",
        value: "K=V",
        description: "environment variable for this run (repeatable)",
      },
      { name: "out-dir", short: "o", type: "string", value: "DIR", description: "where images go (default: .)" },
      {
        name: "timeout-ms",
        type: "string",
        value: "MS",
        description: "interrupt the code after MS (default 60000; 0: none)",
      },
      { name: "json", type: "boolean", description: "print the whole execution as JSON instead" },
    ],
    examples: [
      "burrow run-code sb_x script.py",
      "echo 'x = 41; x + 1' | burrow run-code sb_x",
      "burrow run-code sb_x -l js - <<< 'let n = 2; n * 21'",
    ],
  },
  async run(ctx, args) {
    const [id, file] = args.positionals as [string, string | undefined];
    const language = stringOption(args, "language");
    if (language !== undefined && language !== "python" && language !== "js") {
      throw new UsageError(`--language must be python or js, not '${language}'`, "run-code");
    }
    const context = stringOption(args, "context");
    if (context !== undefined && language !== undefined) {
      throw new UsageError("give --context or --language, not both", "run-code");
    }
    const code = file === undefined || file === "-" ? await readAll(ctx) : await readFile(file, "utf8");
    const outDir = resolve(stringOption(args, "out-dir") ?? ".");
    const json = flag(args, "json");
    const sandbox = await Sandbox.connect(id, ctx.connection);
    const controller = new AbortController();
    const off = ctx.io.onSignal("SIGINT", () => controller.abort(new Error("interrupted")));
    let images = 0;
    try {
      const execution = await sandbox.runCode(code, {
        signal: controller.signal,
        envs: keyValues(listOption(args, "env"), "env", "run-code"),
        timeoutMs: intOption(args, "timeout-ms", "run-code") ?? 60_000,
        ...(language === undefined ? {} : { language: language as CodeLanguage }),
        ...(context === undefined ? {} : { context }),
        ...(json
          ? {}
          : {
              onStdout: (text: string) => {
                ctx.io.stdout.write(text);
              },
              onStderr: (text: string) => {
                ctx.io.stderr.write(text);
              },
              onResult: async (result: CodeResult) => {
                images = await printResult(ctx, result, outDir, images);
              },
            }),
      });
      if (json) {
        ctx.io.stdout.write(`${JSON.stringify(execution, null, 2)}\n`);
      } else if (execution.error !== undefined) {
        const { name, value, traceback } = execution.error;
        ctx.io.stderr.write(`${traceback !== "" ? traceback : `${name}: ${value}`}\n`);
      }
      return execution.error === undefined ? 0 : 1;
    } finally {
      off();
    }
  },
};

async function printResult(ctx: Context, result: CodeResult, outDir: string, saved: number): Promise<number> {
  let count = saved;
  for (const [field, ext, encoding] of FILE_FORMATS) {
    const data = result[field];
    if (data === undefined) continue;
    count += 1;
    const path = join(outDir, `result-${count}.${ext}`);
    await writeFile(path, encoding === "base64" ? Buffer.from(data, "base64") : data);
    ctx.io.stderr.write(`[${field} saved to ${path}]\n`);
  }
  const text = result.text ?? result.markdown;
  if (text !== undefined && (result.isMainResult || count === saved)) ctx.io.stdout.write(`${text}\n`);
  return count;
}

async function readAll(ctx: Context): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.io.stdin)
    chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : Buffer.from(chunk));
  return Buffer.concat(chunks).toString("utf8");
}
