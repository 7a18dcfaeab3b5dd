import type { IncomingMessage, ServerResponse } from "node:http";
import { BurrowError, ErrorCode } from "@burrow/core";

export const MAX_JSON_BODY_BYTES = 1 << 20;

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(payload),
  });
  res.end(payload);
}

export function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status);
  res.end();
}

/** Translates any thrown value into the error body, once, at the HTTP boundary. */
export function sendError(res: ServerResponse, err: unknown): BurrowError {
  const error =
    err instanceof BurrowError ? err : new BurrowError(ErrorCode.Internal, "internal error", { cause: err });
  if (!res.headersSent) sendJson(res, error.status, error.toBody());
  else res.destroy();
  return error;
}

/** Reads a JSON request body (≤ 1 MiB) whatever its Content-Type says. An empty body reads as `{}`. */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_JSON_BODY_BYTES) {
      throw new BurrowError(ErrorCode.PayloadTooLarge, `request body exceeds ${MAX_JSON_BODY_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8").trim();
  if (text === "") return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new BurrowError(ErrorCode.BadRequest, `request body is not valid JSON: ${(err as Error).message}`);
  }
}
