import type { ServerResponse } from "node:http";
import { z } from "zod";
import type { TemplateBuilds } from "../templates/contract.js";

const stringMap = z.record(z.string().max(256), z.string().max(32_768));
const tags = z.array(z.string().max(128)).max(16);
const common = {
  tags: tags.optional(),
  buildArgs: stringMap.optional(),
  force: z.boolean().optional(),
};

const StepSchema = z.discriminatedUnion("type", [
  z
    .object({
      type: z.literal("run"),
      shell: z
        .string()
        .max(1 << 20)
        .optional(),
      argv: z.array(z.string()).max(4096).optional(),
      buildEnv: stringMap.optional(),
    })
    .strict(),
  z
    .object({
      type: z.literal("copy"),
      contextHash: z.string(),
      sources: z.array(z.string().max(4096)).min(1).max(256),
      dest: z.string().max(4096),
      chown: z.string().max(256).optional(),
      chmod: z.string().max(8).optional(),
    })
    .strict(),
  z.object({ type: z.literal("env"), vars: stringMap }).strict(),
  z.object({ type: z.literal("workdir"), path: z.string().max(4096) }).strict(),
  z.object({ type: z.literal("user"), user: z.string().max(256) }).strict(),
  z.object({ type: z.literal("label"), labels: stringMap }).strict(),
  z.object({ type: z.literal("expose"), ports: z.array(z.number().int()).max(256) }).strict(),
]);

/**
 * A build: Dockerfile text (with the hash of an uploaded context for COPY), or the structured
 * form (base, steps, start and ready commands).
 */
export const BuildBodySchema = z.union([
  z
    .object({
      dockerfile: z
        .string()
        .min(1)
        .max(1 << 20),
      contextHash: z.string().optional(),
      ...common,
    })
    .strict(),
  z
    .object({
      from: z.union([z.object({ template: z.string() }).strict(), z.object({ image: z.string() }).strict()]),
      steps: z.array(StepSchema).max(1000),
      start: z
        .object({
          startCmd: z.string().optional(),
          readyCmd: z.string().optional(),
          readyPort: z.number().int().min(1).max(65535).optional(),
          readyTimeoutMs: z.number().int().min(1).optional(),
        })
        .strict()
        .optional(),
      ...common,
    })
    .strict(),
]);

/**
 * Streams a build's log as NDJSON from `offset`: one `{"log": entry}` line per entry, live
 * while the build runs, then `{"build": info}` once it has finished.
 */
export async function followLogs(
  res: ServerResponse,
  builds: TemplateBuilds,
  id: string,
  offset: number,
): Promise<void> {
  res.writeHead(200, { "Content-Type": "application/x-ndjson", "Cache-Control": "no-store" });
  let sent = offset;
  let done = false;
  const flush = async () => {
    const logs = await builds.logs(id, sent);
    for (const log of logs) res.write(`${JSON.stringify({ log })}\n`);
    sent += logs.length;
  };
  const finished = async () => {
    const b = await builds.get(id);
    return b === undefined || b.status === "ready" || b.status === "error";
  };
  await new Promise<void>((resolve) => {
    let stop: (() => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
    // Reads run one after another, so no log line is sent twice.
    let queue: Promise<void> = Promise.resolve();
    const end = (last?: string) => {
      if (done) return;
      done = true;
      stop?.();
      if (timer) clearInterval(timer);
      if (last === undefined) res.destroy();
      else res.end(last);
      resolve();
    };
    const run = (work: () => Promise<void>) => {
      queue = queue
        .then(async () => {
          if (!done) await work();
        })
        .catch(() => end());
    };
    const finish = async () => {
      await flush();
      end(`${JSON.stringify({ build: await builds.get(id) })}\n`);
    };
    stop = builds.follow?.(id, (_entry, last) =>
      run(async () => {
        await flush();
        if (last) await finish();
      }),
    );
    // Without live events (or should one be missed), the log is read again every second.
    const poll = async () => {
      await flush();
      if (await finished()) await finish();
    };
    timer = setInterval(() => run(poll), 1000);
    res.on("close", () => {
      if (done) return;
      done = true;
      stop?.();
      if (timer) clearInterval(timer);
      resolve();
    });
    run(poll);
  });
}
