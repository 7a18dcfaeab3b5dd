/** Checkpoint commands: checkpoint, checkpoints (tree), restore, fork, diff. */
import { type CheckpointInfo, Sandbox } from "@burrow/sdk";
import { flag, intOption, type OptionSpec, stringOption, UsageError } from "../args.js";
import { type Command, print, printJson } from "../context.js";

const json: OptionSpec = { name: "json", type: "boolean", description: "print JSON" };

function mb(bytes: number): string {
  return `${(bytes / 1_048_576).toFixed(1)} MB`;
}

function line(c: CheckpointInfo, head: string | null): string {
  const name = c.name ? ` "${c.name}"` : "";
  const mark = c.id === head ? " (head)" : "";
  const stored = c.status === "storing" ? "(storing…)" : `(+${mb(c.storedBytes)} stored)`;
  return `${c.id}${name} ${c.mode} ${mb(c.sizeBytes)} ${stored} ${c.createdAt}${mark}`;
}

/** Checkpoints drawn as a tree by parent, oldest first. */
export function renderTree(list: readonly CheckpointInfo[], head: string | null): string {
  const ids = new Set(list.map((c) => c.id));
  const children = new Map<string | null, CheckpointInfo[]>();
  for (const c of list) {
    const parent = c.parentId !== null && ids.has(c.parentId) ? c.parentId : null;
    children.set(parent, [...(children.get(parent) ?? []), c]);
  }
  const out: string[] = [];
  const walk = (parent: string | null, prefix: string) => {
    const kids = children.get(parent) ?? [];
    kids.forEach((c, i) => {
      const last = i === kids.length - 1;
      out.push(`${prefix}${parent === null ? "" : last ? "└─ " : "├─ "}${line(c, head)}`);
      walk(c.id, parent === null ? prefix : `${prefix}${last ? "   " : "│  "}`);
    });
  };
  walk(null, "");
  return out.join("\n");
}

export const checkpoint: Command = {
  spec: {
    name: "checkpoint",
    summary: "Checkpoint a sandbox (files, or files + memory with --mode full)",
    positionals: [{ name: "id", required: true }],
    options: [
      { name: "name", type: "string", value: "NAME", description: "a label for the checkpoint" },
      { name: "mode", type: "string", value: "fs|full", description: "fs (files, default) or full (+ memory)" },
      json,
    ],
  },
  async run(ctx, args) {
    const mode = stringOption(args, "mode");
    if (mode !== undefined && mode !== "fs" && mode !== "full") {
      throw new UsageError(`--mode must be fs or full, got '${mode}'`, "checkpoint");
    }
    const name = stringOption(args, "name");
    const sandbox = await Sandbox.connect(args.positionals[0] as string, ctx.connection);
    const ck = await sandbox.checkpoints.create({
      ...(name === undefined ? {} : { name }),
      ...(mode === undefined ? {} : { mode }),
    });
    if (flag(args, "json")) printJson(ctx.io.stdout, ck);
    else print(ctx.io.stdout, line(ck, null));
    return 0;
  },
};

export const checkpoints: Command = {
  spec: {
    name: "checkpoints",
    summary: "List a sandbox's checkpoints as a tree",
    positionals: [{ name: "id", required: true }],
    options: [json],
  },
  async run(ctx, args) {
    const sandbox = await Sandbox.connect(args.positionals[0] as string, ctx.connection);
    const { checkpoints: list, headId } = await sandbox.checkpoints.list();
    if (flag(args, "json")) printJson(ctx.io.stdout, { checkpoints: list, headId });
    else print(ctx.io.stdout, list.length ? renderTree(list, headId) : "no checkpoints");
    return 0;
  },
};

export const restore: Command = {
  spec: {
    name: "restore",
    summary: "Restore a sandbox in place to one of its checkpoints",
    positionals: [
      { name: "id", required: true },
      { name: "checkpoint", required: true },
    ],
    options: [json],
  },
  async run(ctx, args) {
    const sandbox = await Sandbox.connect(args.positionals[0] as string, ctx.connection);
    const info = await sandbox.checkpoints.restore(args.positionals[1] as string);
    if (flag(args, "json")) printJson(ctx.io.stdout, info);
    else print(ctx.io.stdout, `${info.id} ${info.state}`);
    return 0;
  },
};

export const fork: Command = {
  spec: {
    name: "fork",
    summary: "Start new sandboxes from a checkpoint ('now' checkpoints first)",
    positionals: [
      { name: "id", required: true },
      { name: "checkpoint", required: true },
    ],
    options: [{ name: "count", type: "string", value: "N", description: "how many sandboxes (default 1)" }, json],
  },
  async run(ctx, args) {
    const count = intOption(args, "count", "fork");
    const sandbox = await Sandbox.connect(args.positionals[0] as string, ctx.connection);
    const result = await sandbox.checkpoints.fork(args.positionals[1] as string, count === undefined ? {} : { count });
    if (flag(args, "json")) printJson(ctx.io.stdout, result);
    else print(ctx.io.stdout, result.sandboxIds.join("\n"));
    return 0;
  },
};

export const diff: Command = {
  spec: {
    name: "diff",
    summary: "Files added, modified and removed between two checkpoints (or a checkpoint and now)",
    positionals: [
      { name: "id", required: true },
      { name: "from", required: true },
      { name: "to", required: false },
    ],
    options: [{ name: "path", type: "string", value: "P", description: "unified diff of this file" }, json],
  },
  async run(ctx, args) {
    const path = stringOption(args, "path");
    const sandbox = await Sandbox.connect(args.positionals[0] as string, ctx.connection);
    const result = await sandbox.checkpoints.diff(
      args.positionals[1] as string,
      args.positionals[2] ?? "now",
      path === undefined ? {} : { path },
    );
    if (flag(args, "json")) printJson(ctx.io.stdout, result);
    else if (path !== undefined) print(ctx.io.stdout, result.unified || "no differences");
    else {
      const sign = { added: "A", modified: "M", removed: "D" } as const;
      print(ctx.io.stdout, result.entries.map((e) => `${sign[e.change]} ${e.path}`).join("\n") || "no differences");
    }
    return 0;
  },
};
