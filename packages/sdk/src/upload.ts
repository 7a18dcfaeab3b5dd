/** Request and response bodies of the `/files` endpoint. */
import type { OperationScope } from "./signals.js";

/** Data `files.write` accepts; strings are written as UTF-8. */
export type WriteData = string | ArrayBuffer | Uint8Array | Blob | ReadableStream<Uint8Array>;

export function isNodeRuntime(): boolean {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof proc?.versions?.node === "string";
}

/**
 * Body for an octet-stream upload. A ReadableStream is sent as it is produced where fetch can
 * stream request bodies (Node); browsers cannot over HTTP/1.1, so there it is read into a Blob.
 */
export async function toUploadBody(
  data: WriteData,
  canStream: boolean,
): Promise<{ body: BodyInit; streamed: boolean }> {
  if (typeof data === "string") return { body: new TextEncoder().encode(data), streamed: false };
  if (data instanceof ArrayBuffer) return { body: new Uint8Array(data), streamed: false };
  if (data instanceof Uint8Array) {
    // fetch wants ArrayBuffer-backed bytes; copy views over other buffers (e.g. SharedArrayBuffer).
    const bytes = data.buffer instanceof ArrayBuffer ? (data as Uint8Array<ArrayBuffer>) : new Uint8Array(data);
    return { body: bytes, streamed: false };
  }
  if (typeof Blob !== "undefined" && data instanceof Blob) return { body: data, streamed: false };
  if (canStream) return { body: data, streamed: true };
  return { body: await new Response(data).blob(), streamed: false };
}

/**
 * The download body as a stream that ends the operation's scope when it is fully read or
 * cancelled, and fails with the scope's abort reason (e.g. the caller's) when aborted.
 */
export function readFileBody(res: Response, scope: OperationScope): ReadableStream<Uint8Array> {
  const body = res.body;
  if (body === null) {
    scope.dispose();
    return new ReadableStream({ start: (c) => c.close() });
  }
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          scope.dispose();
          controller.close();
        } else {
          controller.enqueue(value);
        }
      } catch (err) {
        scope.dispose();
        controller.error(scope.reasonFor(err));
      }
    },
    async cancel(reason) {
      scope.dispose();
      await reader.cancel(reason);
    },
  });
}
