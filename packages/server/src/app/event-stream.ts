import type { ServerResponse } from "node:http";
import type { SandboxEvent, SandboxInfo } from "@burrow/core";
import { type SandboxService, toInfo } from "../services/sandbox-service.js";
import type { EventStore } from "../store/event-store.js";
import type { Router } from "./router.js";

/** One message of `GET /v1/events`: the event and the sandbox as it is after it (null once deleted). */
export interface EventStreamMessage {
  event: SandboxEvent;
  sandbox: SandboxInfo | null;
}

const HEARTBEAT_MS = 15_000;

/**
 * `GET /v1/events`: a server-sent event stream of every sandbox's lifecycle events as they are
 * recorded (`event: sandbox`, `id:` the event id), with a comment line every 15 s to keep
 * proxies from closing it. `close()` ends every open stream (server shutdown).
 */
export class EventStreams {
  private readonly open = new Set<ServerResponse>();

  constructor(
    private readonly events: EventStore,
    private readonly sandboxes: SandboxService,
  ) {}

  register(router: Router): void {
    router.add("GET", "/v1/events", ({ res }) => this.serve(res));
  }

  private serve(res: ServerResponse): void {
    res.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store",
      "X-Accel-Buffering": "no",
    });
    res.write(": connected\n\n");
    this.open.add(res);
    // Events are written in the order they happened: each waits for the one before.
    let queue: Promise<void> = Promise.resolve();
    const unsubscribe = this.events.subscribe((event) => {
      queue = queue.then(async () => {
        const sandbox = await this.current(event.sandboxId);
        // Warm-pool sandboxes are nobody's yet: their events stay out of the stream.
        if (sandbox === null && event.type !== "deleted") return;
        const message: EventStreamMessage = { event, sandbox };
        res.write(`id: ${event.id}\nevent: sandbox\ndata: ${JSON.stringify(message)}\n\n`);
      });
    });
    const heartbeat = setInterval(() => res.write(": ping\n\n"), HEARTBEAT_MS);
    heartbeat.unref();
    res.on("close", () => {
      clearInterval(heartbeat);
      unsubscribe();
      this.open.delete(res);
    });
  }

  private async current(id: string): Promise<SandboxInfo | null> {
    try {
      return toInfo(await this.sandboxes.get(id));
    } catch {
      return null;
    }
  }

  close(): void {
    for (const res of this.open) res.end();
  }
}
