/** `burrow volume`: create, list, delete volumes and copy files in and out of them. */
import { createReadStream, createWriteStream } from "node:fs";
import { stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { BurrowError, ErrorCode, type VolumeMount, Volumes } from "@burrow/sdk";
import { flag, stringOption, UsageError } from "../args.js";
import { type Command, print, printJson } from "../context.js";

const ACTIONS = ["create", "ls", "rm", "cp"] as const;

/** Sizes like 512M, 10G or a byte count. */
export function parseSize(text: string): number {
  const m = /^(\d+)([KMGT]?)i?B?$/i.exec(text.trim());
  if (m === null) throw new UsageError(`size '${text}' is not a number of bytes or like 512M, 10G`, "volume");
  const unit = { "": 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 }[(m[2] ?? "").toUpperCase()] ?? 1;
  return Number(m[1]) * unit;
}

/** `NAME:/path[:ro]` of `burrow create --volume`. */
export function parseVolumeMount(text: string): VolumeMount {
  const m = /^([^:]+):(\/[^:]*)(?::(ro|rw))?$/.exec(text);
  if (m === null) throw new UsageError(`--volume '${text}' must be NAME:/path or NAME:/path:ro`, "create");
  return { name: m[1] as string, path: m[2] as string, ...(m[3] === "ro" ? { readOnly: true } : {}) };
}

/** `NAME:/path` names a file on a volume; anything else is local. */
function parseRemote(arg: string): { volume: string; path: string } | undefined {
  const m = /^([a-z0-9][a-z0-9._-]*):(.+)$/.exec(arg);
  return m === null ? undefined : { volume: m[1] as string, path: m[2] as string };
}

const mib = (n: number) => `${Math.round(n / 2 ** 20)} MiB`;

export const volume: Command = {
  spec: {
    name: "volume",
    summary: "Create, list (ls) or delete (rm) volumes, and copy (cp) files in and out of them",
    positionals: [
      { name: "action", required: true },
      { name: "name", required: false },
      { name: "dst", required: false },
    ],
    options: [
      {
        name: "size",
        type: "string",
        value: "SIZE",
        description: "size limit of a new volume, e.g. 512M, 10G (default 10G)",
      },
      { name: "json", type: "boolean", description: "print JSON" },
    ],
    examples: [
      "burrow volume create pip-cache --size 5G",
      "burrow create --volume pip-cache:/root/.cache/pip",
      "burrow volume cp ./data.csv datasets:/raw/data.csv",
      "burrow volume cp datasets:/raw/data.csv -",
      "burrow volume rm pip-cache",
    ],
  },
  async run(ctx, args) {
    const [action, name, dst] = args.positionals;
    if (!ACTIONS.includes(action as (typeof ACTIONS)[number])) {
      throw new UsageError(`unknown action '${action}': use ${ACTIONS.join(", ")}`, "volume");
    }
    if (action === "ls") {
      const volumes = await Volumes.list(ctx.connection);
      if (flag(args, "json")) printJson(ctx.io.stdout, volumes);
      else {
        for (const v of volumes) {
          const used = v.usedBytes === undefined ? "" : `${mib(v.usedBytes)} used of `;
          const users = v.mountedBy.length > 0 ? `\tmounted by ${v.mountedBy.join(",")}` : "";
          print(ctx.io.stdout, `${v.name}\t${v.id}\t${used}${mib(v.sizeBytes)}${users}`);
        }
      }
      return 0;
    }
    if (name === undefined) throw new UsageError(`burrow volume ${action} needs a NAME`, "volume");
    if (action === "create") {
      const size = stringOption(args, "size");
      const info = await Volumes.create(name, {
        ...ctx.connection,
        ...(size === undefined ? {} : { sizeBytes: parseSize(size) }),
      });
      if (flag(args, "json")) printJson(ctx.io.stdout, info);
      else print(ctx.io.stdout, info.id);
      return 0;
    }
    if (action === "rm") {
      if (!(await Volumes.delete(name, ctx.connection))) {
        throw new BurrowError(ErrorCode.VolumeNotFound, `volume '${name}' not found`, { details: { volume: name } });
      }
      return 0;
    }
    if (dst === undefined) throw new UsageError("burrow volume cp needs SRC and DST", "volume");
    const from = parseRemote(name);
    const to = parseRemote(dst);
    if ((from === undefined) === (to === undefined)) {
      throw new UsageError("exactly one of SRC and DST must be VOLUME:/path", "volume");
    }
    if (to !== undefined) {
      const input = name === "-" ? ctx.io.stdin : createReadStream(name);
      const stream = Readable.toWeb(Readable.from(input)) as ReadableStream<Uint8Array>;
      await Volumes.write(to.volume, to.path, stream, ctx.connection);
      return 0;
    }
    const remote = from as { volume: string; path: string };
    const bytes = await Volumes.read(remote.volume, remote.path, ctx.connection);
    if (dst === "-") {
      ctx.io.stdout.write(bytes);
      return 0;
    }
    const isDir = await stat(dst).then(
      (s) => s.isDirectory(),
      () => false,
    );
    await pipeline(Readable.from([bytes]), createWriteStream(isDir ? join(dst, basename(remote.path)) : dst));
    return 0;
  },
};
