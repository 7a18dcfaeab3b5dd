/** `burrow cp`: copy a file into or out of a sandbox ("-" is stdin/stdout). */
import { createReadStream, createWriteStream } from "node:fs";
import { stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Sandbox } from "@burrow/sdk";
import { UsageError } from "../args.js";
import type { Command } from "../context.js";

export interface RemotePath {
  sandboxId: string;
  path: string;
}

/** `<id>:<path>` names a file in a sandbox; anything else is local. */
export function parseRemote(arg: string): RemotePath | undefined {
  const match = /^([A-Za-z0-9_-]+):(.+)$/.exec(arg);
  if (match === null) return undefined;
  return { sandboxId: match[1] as string, path: match[2] as string };
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

export const cp: Command = {
  spec: {
    name: "cp",
    summary: "Copy a file between this machine and a sandbox",
    positionals: [
      { name: "src", required: true },
      { name: "dst", required: true },
    ],
    options: [{ name: "user", short: "u", type: "string", value: "USER", description: "owner of written files" }],
    examples: [
      "burrow cp ./data.csv sb_x:/tmp/data.csv",
      "burrow cp sb_x:/tmp/out.json .",
      "burrow cp sb_x:/etc/os-release -",
    ],
  },
  async run(ctx, args) {
    const [src, dst] = args.positionals as [string, string];
    const from = parseRemote(src);
    const to = parseRemote(dst);
    if ((from === undefined) === (to === undefined)) {
      throw new UsageError("exactly one of <src> and <dst> must be <id>:<path>", "cp");
    }
    const user = typeof args.options.user === "string" ? { user: args.options.user } : {};
    if (to !== undefined) {
      const sandbox = await Sandbox.connect(to.sandboxId, ctx.connection);
      if (src !== "-" && (await isDirectory(src))) {
        throw new UsageError(`'${src}' is a directory; cp copies single files`, "cp");
      }
      const input = src === "-" ? ctx.io.stdin : createReadStream(src);
      const stream = Readable.toWeb(Readable.from(input)) as ReadableStream<Uint8Array>;
      await sandbox.files.write(to.path, stream, user);
      return 0;
    }
    const remote = from as RemotePath;
    const sandbox = await Sandbox.connect(remote.sandboxId, ctx.connection);
    const body = await sandbox.files.read(remote.path, { format: "stream", ...user });
    const source = Readable.fromWeb(body as import("node:stream/web").ReadableStream<Uint8Array>);
    if (dst === "-") {
      const out = ctx.io.stdout;
      const sink = new Writable({
        write(chunk: Uint8Array, _encoding, done) {
          out.write(chunk);
          done();
        },
      });
      await pipeline(source, sink);
      return 0;
    }
    const target = (await isDirectory(dst)) ? join(dst, basename(remote.path)) : dst;
    await pipeline(source, createWriteStream(target));
    return 0;
  },
};
