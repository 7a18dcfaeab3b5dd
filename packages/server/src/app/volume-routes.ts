import type { IncomingMessage, ServerResponse } from "node:http";
import { BurrowError, ErrorCode, type Logger, type VolumeEntry } from "@burrow/core";
import { z } from "zod";
import type { ApiKeyStore } from "../store/api-key-store.js";
import type { VolumeRecord } from "../store/volume-store.js";
import { type OwnerAndMode, VolumeFiles } from "../volumes/volume-files.js";
import type { VolumeService } from "../volumes/volume-service.js";
import { authenticate } from "./auth.js";
import { e2bRouteAdder } from "./e2b/routes.js";
import { readJson, sendEmpty, sendJson } from "./http.js";
import type { RouteContext, Router } from "./router.js";
import { parseBody } from "./schemas.js";

const CreateVolumeSchema = z
  .object({ name: z.string().max(200), sizeBytes: z.number().int().positive().optional() })
  .strict();
const MetadataSchema = z
  .object({
    uid: z.number().int().min(0).max(0xffffffff).optional(),
    gid: z.number().int().min(0).max(0xffffffff).optional(),
    mode: z.number().int().min(0).max(0o7777).optional(),
  })
  .strict();

function queryInt(url: URL, name: string, max: number): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > max) {
    throw new BurrowError(ErrorCode.BadRequest, `${name} must be a whole number from 0 to ${max}`, {
      details: { field: name },
    });
  }
  return n;
}

function queryPath(url: URL): string {
  const path = url.searchParams.get("path");
  if (path === null) throw new BurrowError(ErrorCode.BadRequest, "the path query parameter is required");
  return path;
}

function ownerAndMode(url: URL): OwnerAndMode {
  const uid = queryInt(url, "uid", 0xffffffff);
  const gid = queryInt(url, "gid", 0xffffffff);
  const mode = queryInt(url, "mode", 0o7777);
  return {
    ...(uid === undefined ? {} : { uid }),
    ...(gid === undefined ? {} : { gid }),
    ...(mode === undefined ? {} : { mode }),
  };
}

const truthy = (url: URL, name: string) => ["true", "1"].includes(url.searchParams.get(name) ?? "");

/** Streams a volume file as the response body. */
async function sendFile(res: ServerResponse, files: VolumeFiles, path: string): Promise<void> {
  const { fh, size } = await files.openFile(path);
  const stream = fh.createReadStream();
  res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": size });
  await new Promise<void>((resolve) => {
    stream.on("error", () => res.destroy());
    res.on("close", () => {
      stream.destroy();
      resolve();
    });
    stream.pipe(res);
  });
}

/**
 * The content routes of one volume, under `base` (`/v1/volumes/:id` and E2B's
 * `/volumecontent/:id`): `dir` lists (GET) and makes folders (POST), `path` stats (GET), changes
 * owner and mode (PATCH) and removes (DELETE), `file` downloads (GET) and uploads (PUT, the body
 * as the file's bytes).
 */
function contentRoutes(
  add: (method: string, path: string, fn: (ctx: RouteContext) => Promise<void>) => void,
  base: string,
  volumeOf: (ctx: RouteContext) => Promise<{ volumes: VolumeService; record: VolumeRecord }>,
  entryOut: (e: VolumeEntry) => unknown,
): void {
  const filesOf = async (ctx: RouteContext) => {
    const { volumes, record } = await volumeOf(ctx);
    return new VolumeFiles(await volumes.root(record));
  };
  add("GET", `${base}/dir`, async (ctx) => {
    const files = await filesOf(ctx);
    const entries = await files.list(ctx.url.searchParams.get("path") ?? "/", queryInt(ctx.url, "depth", 32) ?? 1);
    sendJson(ctx.res, 200, base.startsWith("/v1") ? { entries: entries.map(entryOut) } : entries.map(entryOut));
  });
  add("POST", `${base}/dir`, async (ctx) => {
    const files = await filesOf(ctx);
    const entry = await files.makeDir(queryPath(ctx.url), {
      ...ownerAndMode(ctx.url),
      parents: truthy(ctx.url, "force") || truthy(ctx.url, "parents"),
    });
    sendJson(ctx.res, 201, entryOut(entry));
  });
  add("GET", `${base}/path`, async (ctx) => {
    const files = await filesOf(ctx);
    sendJson(ctx.res, 200, entryOut(await files.stat(queryPath(ctx.url))));
  });
  add("PATCH", `${base}/path`, async (ctx) => {
    const files = await filesOf(ctx);
    const body = parseBody(MetadataSchema, await readJson(ctx.req));
    sendJson(ctx.res, 200, entryOut(await files.setOwnerAndMode(queryPath(ctx.url), body)));
  });
  add("DELETE", `${base}/path`, async (ctx) => {
    const files = await filesOf(ctx);
    await files.remove(queryPath(ctx.url));
    sendEmpty(ctx.res, 204);
  });
  add("GET", `${base}/file`, async (ctx) => {
    const files = await filesOf(ctx);
    await sendFile(ctx.res, files, queryPath(ctx.url));
  });
  add("PUT", `${base}/file`, async (ctx) => {
    const files = await filesOf(ctx);
    const entry = await files.write(queryPath(ctx.url), ctx.req as IncomingMessage, ownerAndMode(ctx.url));
    sendJson(ctx.res, 201, entryOut(entry));
  });
}

/** `/v1/volumes`: create, list, get, delete, and each volume's files (authenticated with an API key). */
export function registerVolumeRoutes(router: Router, volumes: VolumeService): void {
  router.add("POST", "/v1/volumes", async ({ req, res }) => {
    const body = parseBody(CreateVolumeSchema, await readJson(req));
    sendJson(res, 201, await volumes.info(await volumes.create(body)));
  });
  router.add("GET", "/v1/volumes", async ({ res }) => {
    const list = [];
    for (const v of await volumes.list()) list.push(await volumes.info(v));
    sendJson(res, 200, { volumes: list });
  });
  router.add("GET", "/v1/volumes/:id", async ({ res, params }) => {
    sendJson(res, 200, await volumes.info(await volumes.get(params.id ?? "")));
  });
  router.add("DELETE", "/v1/volumes/:id", async ({ res, params }) => {
    const id = params.id ?? "";
    if (!(await volumes.delete(id))) await volumes.get(id);
    sendEmpty(res, 204);
  });
  contentRoutes(
    (method, path, fn) => router.add(method, path, fn),
    "/v1/volumes/:id",
    async ({ params }) => ({ volumes, record: await volumes.get(params.id ?? "") }),
    (e) => e,
  );
}

/** The bearer token of a request, if any. */
function bearer(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  return header?.startsWith("Bearer ") ? header.slice(7).trim() : undefined;
}

/**
 * E2B's volume API: `/volumes` (API key) and `/volumecontent/{volumeID}/…`, which takes the
 * volume's own token (`Authorization: Bearer`, what the SDK's Volume sends) or an API key.
 */
export function registerE2bVolumeRoutes(
  router: Router,
  volumes: VolumeService,
  keys: ApiKeyStore,
  logger: Logger,
): void {
  const add = e2bRouteAdder(router, keys, logger);
  const withToken = (v: VolumeRecord) => ({ volumeID: v.id, name: v.name, token: v.token });
  add("GET", "/volumes", async ({ res }) => {
    sendJson(
      res,
      200,
      (await volumes.list()).map((v) => ({ volumeID: v.id, name: v.name })),
    );
  });
  add("POST", "/volumes", async ({ req, res }) => {
    const body = parseBody(CreateVolumeSchema, await readJson(req));
    sendJson(res, 201, withToken(await volumes.create(body)));
  });
  add("GET", "/volumes/:id", async ({ res, params }) => {
    sendJson(res, 200, withToken(await volumes.get(params.id ?? "")));
  });
  add("DELETE", "/volumes/:id", async ({ res, params }) => {
    const id = params.id ?? "";
    if (!(await volumes.delete(id))) await volumes.get(id);
    sendEmpty(res, 204);
  });
  contentRoutes(
    (method, path, fn) => add(method, path, fn, true),
    "/volumecontent/:id",
    async ({ req, params }) => {
      const token = bearer(req);
      const byToken = token === undefined ? undefined : await volumes.byToken(token);
      if (byToken) {
        if (byToken.id !== params.id) throw new BurrowError(ErrorCode.Forbidden, "this token is for another volume");
        return { volumes, record: byToken };
      }
      await authenticate(req, keys);
      return { volumes, record: await volumes.get(params.id ?? "") };
    },
    (e) => e,
  );
}
