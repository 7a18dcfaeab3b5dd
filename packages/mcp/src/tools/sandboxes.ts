/** Sandbox lifecycle tools: create, list, inspect, delete. */
import { Sandbox, type SandboxInfo } from "@burrow/sdk";
import { z } from "zod";
import { jsonResult } from "../results.js";
import { defineTool, type ToolGroup } from "./registry.js";

export const sandboxIdSchema = z
  .string()
  .min(1)
  .describe("Sandbox id as returned by sandbox_create or sandbox_list, e.g. 'sb_3xq5…' (sb_ and 20 characters)");

const labelsSchema = z.record(z.string(), z.string());

/** The fields of a sandbox a model needs, as plain JSON. */
function describeSandbox(info: SandboxInfo): Record<string, unknown> {
  const out: Record<string, unknown> = {
    sandboxId: info.id,
    state: info.state,
    template: info.template,
    metadata: info.metadata,
    resources: info.resources,
    createdAt: info.createdAt,
  };
  if (info.error !== undefined) out.error = info.error;
  return out;
}

const sandboxCreate = defineTool({
  name: "sandbox_create",
  title: "Create sandbox",
  description:
    "Create a new isolated Linux sandbox (gVisor; Debian with bash, python3, nodejs, git, curl) and wait until it " +
    "runs. Returns its sandboxId, which every other tool takes. Files and processes persist until " +
    "sandbox_delete. Commands run as 'user' in /home/user unless told otherwise.",
  inputSchema: {
    template: z.string().min(1).optional().describe("Template name; default 'base'"),
    metadata: labelsSchema
      .optional()
      .describe('String labels to find the sandbox again with sandbox_list, e.g. {"task": "fix-bug-42"}'),
    env: labelsSchema.optional().describe("Environment variables set for every command in the sandbox"),
    secrets: z
      .array(
        z.object({
          name: z.string().min(1).describe("A stored secret's name, from secret_list"),
          hosts: z.array(z.string().min(1)).min(1).describe('Hosts the value may be sent to, e.g. ["api.github.com"]'),
          allowHttp: z
            .boolean()
            .optional()
            .describe("Also send the value over plain HTTP (unencrypted); by default only HTTPS requests carry it"),
        }),
      )
      .optional()
      .describe(
        "Stored secrets to use from the sandbox: env var NAME holds {{secret:NAME}}, and requests to the hosts carry " +
          'the value in its place, e.g. curl -H "Authorization: Bearer $NAME" https://host/…',
      ),
  },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  async run(args, session, signal) {
    const sandbox = await Sandbox.create({
      ...session.api(signal),
      ...(args.template === undefined ? {} : { template: args.template }),
      ...(args.metadata === undefined ? {} : { metadata: args.metadata }),
      ...(args.env === undefined ? {} : { envs: args.env }),
      ...(args.secrets === undefined ? {} : { secrets: args.secrets }),
    });
    return jsonResult(describeSandbox(await sandbox.getInfo({ signal })));
  },
});

const sandboxList = defineTool({
  name: "sandbox_list",
  title: "List sandboxes",
  description:
    "List existing sandboxes with their id, state, template, labels and creation time. Pass metadata to list only " +
    "sandboxes carrying all of those labels.",
  inputSchema: {
    metadata: labelsSchema.optional().describe("Only sandboxes having every one of these labels"),
  },
  annotations: { readOnlyHint: true, openWorldHint: false },
  async run(args, session, signal) {
    const sandboxes = await Sandbox.list({
      ...session.api(signal),
      ...(args.metadata === undefined ? {} : { metadata: args.metadata }),
    });
    return jsonResult({ sandboxes: sandboxes.map(describeSandbox) });
  },
});

const sandboxInfo = defineTool({
  name: "sandbox_info",
  title: "Show sandbox",
  description: "Show one sandbox: state ('starting', 'running', 'error', …), template, labels, resources, and error.",
  inputSchema: { sandboxId: sandboxIdSchema },
  annotations: { readOnlyHint: true, openWorldHint: false },
  async run(args, session, signal) {
    return jsonResult(describeSandbox(await Sandbox.getInfo(args.sandboxId, session.api(signal))));
  },
});

const sandboxDelete = defineTool({
  name: "sandbox_delete",
  title: "Delete sandbox",
  description:
    "Delete a sandbox, stopping its processes and erasing its files for good. Returns deleted: false when no such " +
    "sandbox existed (deleting twice is harmless).",
  inputSchema: { sandboxId: sandboxIdSchema },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  async run(args, session, signal) {
    const deleted = await Sandbox.kill(args.sandboxId, session.api(signal));
    await session.processes.forgetSandbox(args.sandboxId);
    return jsonResult({ sandboxId: args.sandboxId, deleted });
  },
});

export const sandboxTools: ToolGroup = [sandboxCreate, sandboxList, sandboxInfo, sandboxDelete];
