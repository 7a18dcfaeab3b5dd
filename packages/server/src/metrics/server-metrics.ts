import type { SandboxEvent } from "@burrow/core";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** Seconds: from a warm claim (ms) to a cold create or a large checkpoint (tens of seconds). */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const BUILD_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800];

export interface SandboxCounts {
  /** User sandboxes per state. */
  byState: Record<string, number>;
  /** Sandboxes not handed to a user yet: warm pool, forks being made, template build steps. */
  internal: number;
}

/** Counts live sandboxes by state; those not handed to a user yet apart. */
export function countSandboxes(records: ReadonlyArray<{ state: string; pool: string | null }>): SandboxCounts {
  const byState: Record<string, number> = {};
  let internal = 0;
  for (const r of records) {
    if (r.pool !== null) internal++;
    else byState[r.state] = (byState[r.state] ?? 0) + 1;
  }
  return { byState, internal };
}

/**
 * The server's Prometheus metrics (prom-client): sandboxes by state, create and wake latency,
 * checkpoint and build durations, HTTP and proxied requests, errors by code, and Node's own.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly creates: Histogram<"source">;
  private readonly wakes: Histogram<"from">;
  private readonly operations: Histogram<"operation">;
  private readonly checkpoints: Histogram<"operation">;
  private readonly builds: Histogram<"result">;
  private readonly requests: Counter<"kind" | "status">;
  private readonly errors: Counter<"code">;

  constructor(counts: () => SandboxCounts | Promise<SandboxCounts>) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: "burrow_" });
    new Gauge({
      name: "burrow_sandboxes",
      help: "Sandboxes by state; state=internal: not handed to a user yet (warm pool, forks being made, build steps)",
      labelNames: ["state"],
      registers,
      async collect() {
        const c = await counts();
        this.reset();
        for (const [state, n] of Object.entries(c.byState)) this.set({ state }, n);
        this.set({ state: "internal" }, c.internal);
      },
    });
    this.creates = new Histogram({
      name: "burrow_sandbox_create_seconds",
      help: "Time to create a sandbox through the API, from a warm pool or cold",
      labelNames: ["source"],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.wakes = new Histogram({
      name: "burrow_sandbox_wake_seconds",
      help: "Time to wake a sandbox, by the state it woke from",
      labelNames: ["from"],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.operations = new Histogram({
      name: "burrow_sandbox_operation_seconds",
      help: "Duration of sandbox lifecycle operations (start, standby, hibernated, restarted, deleted, …)",
      labelNames: ["operation"],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.checkpoints = new Histogram({
      name: "burrow_checkpoint_seconds",
      help: "Duration of checkpoint operations: checkpointed (taken and stored), restored",
      labelNames: ["operation"],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.builds = new Histogram({
      name: "burrow_template_build_seconds",
      help: "Duration of template builds by result",
      labelNames: ["result"],
      buckets: BUILD_BUCKETS,
      registers,
    });
    this.requests = new Counter({
      name: "burrow_http_requests_total",
      help: "HTTP requests served: kind=api (the REST and E2B APIs) or proxy (a sandbox's ports), by status",
      labelNames: ["kind", "status"],
      registers,
    });
    this.errors = new Counter({
      name: "burrow_api_errors_total",
      help: "Error answers by error code",
      labelNames: ["code"],
      registers,
    });
  }

  created(source: "warm" | "cold", seconds: number): void {
    this.creates.observe({ source }, seconds);
  }

  /** Every sandbox event with a duration: wakes, checkpoints and other lifecycle operations. */
  event(e: Pick<SandboxEvent, "type" | "from" | "durationMs">): void {
    if (e.durationMs === undefined) return;
    const seconds = e.durationMs / 1000;
    // A wake from hibernation goes hibernated → waking → running: its event comes from "waking".
    if (e.type === "woken")
      this.wakes.observe({ from: e.from === "waking" ? "hibernated" : (e.from ?? "unknown") }, seconds);
    else if (e.type === "checkpointed" || e.type === "restored")
      this.checkpoints.observe({ operation: e.type }, seconds);
    else this.operations.observe({ operation: e.type }, seconds);
  }

  built(result: "ready" | "failed", seconds: number): void {
    this.builds.observe({ result }, seconds);
  }

  request(kind: "api" | "proxy", status: number): void {
    this.requests.inc({ kind, status: String(status) });
  }

  error(code: string): void {
    this.errors.inc({ code });
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
