/** `burrow template`: build templates from Dockerfiles, list, inspect, tag and delete them. */
import { createWriteStream } from "node:fs";
import { readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import { BurrowError, ErrorCode, type TemplateBuildLogEntry, Templates } from "@burrow/sdk";
import { flag, keyValues, listOption, stringOption, UsageError } from "../args.js";
import { type Command, print, printJson } from "../context.js";

const ACTIONS = ["build", "import", "export", "from-sandbox", "ls", "info", "rm", "tag", "untag"] as const;

/** Writes the archive beside `output` and renames it into place, so a failed export leaves no partial file. */
async function writeArchive(archive: ReadableStream<Uint8Array>, output: string): Promise<void> {
  const partial = `${output}.partial`;
  try {
    await pipeline(Readable.fromWeb(archive as NodeReadableStream<Uint8Array>), createWriteStream(partial));
    await rename(partial, output);
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
}

function logLine(entry: TemplateBuildLogEntry): string {
  return entry.level === "error" ? `error: ${entry.message}` : entry.message;
}

export const template: Command = {
  spec: {
    name: "template",
    summary:
      "Build (build), import or export an image archive (import, export), list (ls), inspect (info), tag (tag, untag) or delete (rm) templates",
    positionals: [
      { name: "action", required: true },
      { name: "args", required: false, variadic: true },
    ],
    options: [
      {
        name: "file",
        short: "f",
        type: "string",
        value: "PATH",
        description: "the Dockerfile (default CONTEXT/Dockerfile)",
      },
      { name: "build-arg", type: "list", value: "K=V", description: "a value for an ARG (repeatable)" },
      {
        name: "tag",
        short: "t",
        type: "list",
        value: "TAG",
        description: "another tag for the new version (repeatable)",
      },
      { name: "no-cache", type: "boolean", description: "run every step again (ignore the layer cache)" },
      {
        name: "checkpoint",
        type: "string",
        value: "CK",
        description: "from-sandbox: use this full checkpoint (default: take one now)",
      },
      { name: "docker", type: "boolean", description: "import: the archive is a `docker save` tar (default: OCI)" },
      {
        name: "output",
        short: "o",
        type: "string",
        value: "FILE",
        description: "export: where to write the OCI archive (default NAME[-TAG].tar)",
      },
      { name: "json", type: "boolean", description: "print JSON" },
    ],
    examples: [
      "burrow template build myapp -f Dockerfile .",
      "burrow template build myapp:v2 --build-arg VERSION=2 ./app",
      "burrow template import myimage image.tar     # skopeo copy … oci-archive:image.tar",
      "burrow template export myapp:v2 -o myapp.tar   # an OCI archive; NAME@tv_… for one version",
      "burrow template from-sandbox sb_… myapp-warm    # files and memory: starts with its processes running",
      "burrow template ls",
      "burrow template info myapp",
      "burrow template tag myapp:stable tv_…",
      "burrow template rm myapp            # or myapp@tv_… for one version",
      "burrow create --template myapp:stable",
    ],
  },
  async run(ctx, args) {
    const [action, ...rest] = args.positionals;
    if (!ACTIONS.includes(action as (typeof ACTIONS)[number])) {
      throw new UsageError(`unknown action '${action}': use ${ACTIONS.join(", ")}`, "template");
    }
    const json = flag(args, "json");
    if (action === "ls") {
      const templates = await Templates.list(ctx.connection);
      if (json) printJson(ctx.io.stdout, templates);
      else {
        for (const t of templates) {
          const tags = Object.entries(t.tags).map(([tag, v]) => `${tag}=${v}`);
          print(ctx.io.stdout, `${t.name}\t${t.versions.length} version(s)\t${tags.join(" ")}`);
        }
      }
      return 0;
    }
    const target = rest[0];
    if (target === undefined) throw new UsageError(`burrow template ${action} needs a NAME`, "template");
    if (action === "build") {
      const contextDir = rest[1];
      const file =
        stringOption(args, "file") ?? (contextDir === undefined ? "Dockerfile" : join(contextDir, "Dockerfile"));
      const dockerfile = await readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
        throw new UsageError(`cannot read the Dockerfile ${file}: ${err.code ?? err.message}`, "template");
      });
      try {
        const build = await Templates.build(target, {
          ...ctx.connection,
          dockerfile,
          ...(contextDir === undefined ? {} : { contextDir }),
          buildArgs: keyValues(listOption(args, "build-arg"), "build-arg", "template"),
          tags: listOption(args, "tag"),
          force: flag(args, "no-cache"),
          onLog: (entry) => {
            if (!json) print(entry.level === "error" ? ctx.io.stderr : ctx.io.stdout, logLine(entry));
          },
        });
        if (json) printJson(ctx.io.stdout, build);
        return 0;
      } catch (err) {
        if (err instanceof BurrowError && err.code === ErrorCode.TemplateBuildFailed && json) {
          printJson(ctx.io.stdout, (err.details as { build?: unknown } | undefined)?.build ?? {});
        }
        throw err;
      }
    }
    if (action === "import") {
      const file = rest[1];
      if (file === undefined) throw new UsageError("burrow template import needs NAME FILE", "template");
      const archive = await readFile(file).catch((err: NodeJS.ErrnoException) => {
        throw new UsageError(`cannot read the image archive ${file}: ${err.code ?? err.message}`, "template");
      });
      const build = await Templates.import(target, new Uint8Array(archive), {
        ...ctx.connection,
        format: flag(args, "docker") ? "docker" : "oci",
        tags: listOption(args, "tag"),
        onLog: (entry) => {
          if (!json) print(entry.level === "error" ? ctx.io.stderr : ctx.io.stdout, logLine(entry));
        },
      });
      if (json) printJson(ctx.io.stdout, build);
      return 0;
    }
    if (action === "export") {
      const [nameAndTag = "", versionId] = target.split("@");
      const output =
        stringOption(args, "output") ?? `${nameAndTag.replace(":", "-")}${versionId ? `-${versionId}` : ""}.tar`;
      const archive = await Templates.export(nameAndTag, { ...ctx.connection, ...(versionId ? { versionId } : {}) });
      await writeArchive(archive, output);
      const { size } = await stat(output);
      if (json) printJson(ctx.io.stdout, { template: target, file: output, sizeBytes: size });
      else print(ctx.io.stdout, `${target} -> ${output} (${size} bytes, OCI archive)`);
      return 0;
    }
    if (action === "from-sandbox") {
      const name = rest[1];
      if (name === undefined)
        throw new UsageError("burrow template from-sandbox needs SANDBOX_ID NAME[:TAG]", "template");
      const checkpointId = stringOption(args, "checkpoint");
      const version = await Templates.fromSandbox(name, target, {
        ...ctx.connection,
        ...(checkpointId ? { checkpointId } : {}),
      });
      if (json) printJson(ctx.io.stdout, version);
      else
        print(
          ctx.io.stdout,
          `${name} -> ${version.id} (snapshot of ${target}, ${version.snapshot?.memoryBytes ?? 0} bytes of memory)`,
        );
      return 0;
    }
    if (action === "info") {
      const info = await Templates.get(target, ctx.connection);
      if (json) printJson(ctx.io.stdout, info);
      else {
        print(ctx.io.stdout, `${info.name}  created ${info.createdAt}`);
        for (const v of info.versions) {
          const tags = v.tags.length ? `  [${v.tags.join(", ")}]` : "";
          print(ctx.io.stdout, `  ${v.id}  ${v.layers.length} layer(s)  ${v.sizeBytes} bytes  ${v.createdAt}${tags}`);
        }
      }
      return 0;
    }
    if (action === "rm") {
      const [name = "", versionId] = target.split("@");
      const removed = await Templates.delete(name, { ...ctx.connection, ...(versionId ? { versionId } : {}) });
      if (!removed) {
        throw new BurrowError(ErrorCode.TemplateNotFound, `template ${target} not found`, {
          details: { template: target },
        });
      }
      return 0;
    }
    const [name = "", tag] = target.split(":");
    if (tag === undefined) throw new UsageError(`burrow template ${action} needs NAME:TAG`, "template");
    if (action === "untag") {
      if (!(await Templates.untag(name, tag, ctx.connection))) {
        throw new BurrowError(ErrorCode.TemplateNotFound, `tag ${target} not found`, { details: { template: target } });
      }
      return 0;
    }
    const versionId = rest[1];
    if (versionId === undefined) throw new UsageError("burrow template tag needs NAME:TAG VERSION_ID", "template");
    const info = await Templates.tag(name, tag, versionId, ctx.connection);
    if (json) printJson(ctx.io.stdout, info);
    else print(ctx.io.stdout, `${name}:${tag} -> ${versionId}`);
    return 0;
  },
};
