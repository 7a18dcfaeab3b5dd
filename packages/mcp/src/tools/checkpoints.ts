/** Checkpoint tools: snapshot, list, restore, diff and fork a sandbox ("git for the whole machine"). */
import { z } from "zod";
import { jsonResult } from "../results.js";
import { defineTool, type ToolGroup } from "./registry.js";
import { sandboxIdSchema } from "./sandboxes.js";

const checkpointIdSchema = z
  .string()
  .min(1)
  .describe("Checkpoint id as returned by checkpoint_create or checkpoint_list, e.g. 'ck_…'");

const checkpointCreate = defineTool({
  name: "checkpoint_create",
  title: "Checkpoint sandbox",
  description:
    "Save the sandbox's current state as a checkpoint you can restore or fork later — take one before a risky " +
    "change. mode 'fs' (default) saves all files; 'full' also saves memory and running processes (the sandbox " +
    "pauses briefly). Unchanged files cost no extra space. Returns the checkpoint id, size and parent.",
  inputSchema: {
    sandboxId: sandboxIdSchema,
    name: z.string().max(200).optional().describe("A label for the checkpoint, e.g. 'before refactor'"),
    mode: z.enum(["fs", "full"]).optional().describe("'fs' (files, default) or 'full' (files + memory + processes)"),
  },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  async run(args, session, signal) {
    const sandbox = await session.sandbox(args.sandboxId, signal);
    const info = await sandbox.checkpoints.create({
      signal,
      ...(args.name === undefined ? {} : { name: args.name }),
      ...(args.mode === undefined ? {} : { mode: args.mode }),
    });
    return jsonResult(info);
  },
});

const checkpointList = defineTool({
  name: "checkpoint_list",
  title: "List checkpoints",
  description:
    "List a sandbox's checkpoints (oldest first) with id, name, mode, parent, size and time, plus headId: the " +
    "checkpoint the sandbox's files currently descend from. Parents form a tree: restoring then checkpointing " +
    "starts a branch.",
  inputSchema: { sandboxId: sandboxIdSchema },
  annotations: { readOnlyHint: true, openWorldHint: false },
  async run(args, session, signal) {
    const sandbox = await session.sandbox(args.sandboxId, signal);
    return jsonResult(await sandbox.checkpoints.list({ signal }));
  },
});

const checkpointRestore = defineTool({
  name: "checkpoint_restore",
  title: "Restore checkpoint",
  description:
    "Put the sandbox back exactly to a checkpoint: files (changes and deletions since are undone) and, for a " +
    "'full' checkpoint, memory and processes. Work done since the checkpoint is lost unless you checkpoint it " +
    "first.",
  inputSchema: { sandboxId: sandboxIdSchema, checkpointId: checkpointIdSchema },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  async run(args, session, signal) {
    const sandbox = await session.sandbox(args.sandboxId, signal);
    const info = await sandbox.checkpoints.restore(args.checkpointId, { signal });
    return jsonResult({ sandboxId: info.id, state: info.state, restoredTo: args.checkpointId });
  },
});

const checkpointDiff = defineTool({
  name: "checkpoint_diff",
  title: "Diff checkpoints",
  description:
    "List files added, modified and removed between two checkpoints, or from a checkpoint to now (to: 'now', the " +
    "default). Give path to also get a unified text diff of that one file.",
  inputSchema: {
    sandboxId: sandboxIdSchema,
    from: checkpointIdSchema.describe("Checkpoint id to compare from"),
    to: z.string().min(1).optional().describe("Checkpoint id to compare to, or 'now' (default)"),
    path: z.string().min(1).optional().describe("A file to show as a unified diff, e.g. /home/user/app.py"),
  },
  annotations: { readOnlyHint: true, openWorldHint: false },
  async run(args, session, signal) {
    const sandbox = await session.sandbox(args.sandboxId, signal);
    const diff = await sandbox.checkpoints.diff(args.from, args.to ?? "now", {
      signal,
      ...(args.path === undefined ? {} : { path: args.path }),
    });
    return jsonResult(diff);
  },
});

const sandboxFork = defineTool({
  name: "sandbox_fork",
  title: "Fork sandbox",
  description:
    "Start new sandboxes from a checkpoint's files (checkpointId 'now' checkpoints first), e.g. to try several " +
    "approaches in parallel. Each fork is independent afterwards and shares unchanged files on disk. Forks start " +
    "fresh processes; memory is not copied. Returns the new sandbox ids.",
  inputSchema: {
    sandboxId: sandboxIdSchema,
    checkpointId: z.string().min(1).describe("Checkpoint id to fork, or 'now'"),
    count: z.number().int().min(1).max(20).optional().describe("How many forks (default 1, at most 20)"),
  },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  async run(args, session, signal) {
    const sandbox = await session.sandbox(args.sandboxId, signal);
    const fork = await sandbox.checkpoints.fork(args.checkpointId, {
      signal,
      ...(args.count === undefined ? {} : { count: args.count }),
    });
    return jsonResult(fork);
  },
});

export const checkpointTools: ToolGroup = [
  checkpointCreate,
  checkpointList,
  checkpointRestore,
  checkpointDiff,
  sandboxFork,
];
