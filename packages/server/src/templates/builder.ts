import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import {
  BurrowError,
  ErrorCode,
  errorMessage,
  type Logger,
  parseTemplateRef,
  prefixedId,
  type TemplateBuildInfo,
  type TemplateBuildLogEntry,
  type TemplateBuildRequest,
  type TemplateConfig,
} from "@burrow/core";
import type { TemplateStore } from "../store/template-store.js";
import { type BuildPlan, cacheKey, describeStep, invalid, makesLayer, planBuild, stackKey } from "./build-plan.js";
import type { Catalog } from "./catalog.js";
import type { ContextStore } from "./contexts.js";
import type { ResolvedTemplate, TemplateBuilds } from "./contract.js";
import type { LayerStore } from "./layer-store.js";
import { StepFailed, type StepRunner } from "./step-runner.js";

const LOG_TAIL_LINES = 20;
const INTERRUPTED = "the server stopped during the build; start it again";
/** RUN output lines kept in the build log per step (the rest is summarized). */
const MAX_OUTPUT_LINES = 2000;

export interface BuilderDeps {
  store: TemplateStore;
  catalog: Catalog;
  layers: LayerStore;
  contexts: ContextStore;
  steps: StepRunner;
  logger: Logger;
  /**
   * Turns `FROM <image>` (an OCI or Docker archive, or a registry reference) into a base; until an
   * image importer is wired in, such a FROM is a 400.
   */
  importImage?: (ref: string, templateName: string) => Promise<ResolvedTemplate>;
  now?: () => Date;
  /** Told how each build ended, once stored, and how long it took (metrics, webhooks). */
  onFinished?: (result: "ready" | "failed", seconds: number, build: TemplateBuildInfo) => void;
}

/** FROM an image, before the image importer exists. */
export function imagesNotAvailable(ref: string): ResolvedTemplate {
  throw invalid("from", `FROM ${ref}: building from OCI/Docker images is not available yet; use a Burrow template`);
}

/**
 * Template builds: checks the request, answers at once, then runs the steps one by one (RUN and
 * COPY in build sandboxes, cached by input hash; two builds needing the same layer share one
 * run) and makes a new version that the build's tags move to. A failure leaves the tags alone.
 */
export class Builder implements TemplateBuilds {
  private readonly events = new EventEmitter();
  private readonly running = new Map<string, Promise<TemplateBuildInfo>>();
  /** Layers being made, by digest: concurrent builds of the same step share the work. */
  private readonly making = new Map<string, Promise<string>>();
  /** The uploaded contexts each running build uses, by build id. */
  private readonly contextUsers = new Map<string, Set<string>>();
  private readonly now: () => Date;
  private closing = false;

  constructor(private readonly deps: BuilderDeps) {
    this.now = deps.now ?? (() => new Date());
    this.events.setMaxListeners(0);
  }

  /** At start: builds a stop interrupted become failed (their temporary layers go with layer recovery). */
  async recover(): Promise<number> {
    const unfinished = await this.deps.store.unfinishedBuilds();
    for (const b of unfinished) await this.markInterrupted(b.id);
    return unfinished.length;
  }

  /**
   * At server stop: refuses new builds and marks the running ones failed at once, ending their
   * log streams (open connections the HTTP server would wait for). Their steps are not waited
   * for: the next start deletes their build sandboxes, like any a stop left behind.
   */
  async close(): Promise<void> {
    this.closing = true;
    for (const id of this.running.keys()) await this.markInterrupted(id);
  }

  private async markInterrupted(id: string): Promise<void> {
    const b = await this.deps.store.build(id);
    if (!b || b.status === "ready" || b.status === "error") return;
    await this.deps.store.updateBuild({
      ...b,
      status: "error",
      error: { message: INTERRUPTED },
      finishedAt: this.now().toISOString(),
    });
    await this.log(id, "error", `build failed: ${INTERRUPTED}`, undefined, true);
  }

  async start(request: TemplateBuildRequest): Promise<TemplateBuildInfo> {
    if (this.closing) throw new BurrowError(ErrorCode.ServiceUnavailable, "the server is stopping");
    // An image is unpacked (once per image) into a layer and an untagged version before planning.
    const imported = "image" in request.from ? await this.importImage(request.from.image, request.name) : undefined;
    const plan = await planBuild(
      request,
      async (ref) => imported ?? (await this.deps.catalog.resolve(ref)),
      (hash) => this.deps.contexts.entries(hash),
    );
    const info: TemplateBuildInfo = {
      id: prefixedId("bld", (n) => randomBytes(n)),
      templateName: plan.name,
      versionId: prefixedId("tv", (n) => randomBytes(n)),
      status: "waiting",
      stepsTotal: plan.layerSteps,
      stepsDone: 0,
      cacheHits: 0,
      startedAt: this.now().toISOString(),
    };
    await this.deps.store.insertBuild(info, request);
    await this.log(
      info.id,
      "info",
      `build ${info.id} of ${plan.name}:${plan.tags.join(",")} on ${plan.base.templateName} (${plan.base.versionId}): ${plan.steps.length} steps, ${plan.layerSteps} make layers`,
    );
    // The uploaded contexts (COPY files, an image archive) go when the last build using them ends.
    this.contextUsers.set(info.id, contextsOf(request));
    const done = this.build(info, plan).finally(async () => {
      this.running.delete(info.id);
      await this.endContexts(info.id);
    });
    this.running.set(info.id, done);
    return { ...info };
  }

  /** Deletes the contexts a build used that no other running build uses (before its last log line). */
  private async endContexts(buildId: string): Promise<void> {
    const hashes = this.contextUsers.get(buildId);
    this.contextUsers.delete(buildId);
    for (const hash of hashes ?? []) {
      const used = [...this.contextUsers.values()].some((users) => users.has(hash));
      if (!used) await this.deps.contexts.delete(hash).catch(() => undefined);
    }
  }

  get(buildId: string): Promise<TemplateBuildInfo | undefined> {
    return this.deps.store.build(buildId);
  }

  async logs(buildId: string, offset = 0): Promise<TemplateBuildLogEntry[]> {
    await this.require(buildId);
    return this.deps.store.logs(buildId, offset);
  }

  async wait(buildId: string, signal?: AbortSignal): Promise<TemplateBuildInfo> {
    const running = this.running.get(buildId);
    if (!running) return this.require(buildId);
    if (!signal) return running;
    return Promise.race([
      running,
      new Promise<never>((_, reject) => {
        if (signal.aborted) reject(signal.reason);
        signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      }),
    ]);
  }

  /** Calls `listener` for each log line written from now on; returns the unsubscribe function. */
  follow(buildId: string, listener: (entry: TemplateBuildLogEntry, finished: boolean) => void): () => void {
    const handler = (entry: TemplateBuildLogEntry, finished: boolean) => listener(entry, finished);
    this.events.on(buildId, handler);
    return () => this.events.off(buildId, handler);
  }

  isRunning(buildId: string): boolean {
    return this.running.has(buildId);
  }

  private async importImage(ref: string, nameAndTag: string): Promise<ResolvedTemplate> {
    const name = parseTemplateRef(nameAndTag)?.name;
    if (name === undefined) throw invalid("name", `'${nameAndTag}' is not a valid name[:tag]`);
    if (!this.deps.importImage) return imagesNotAvailable(ref);
    return this.deps.importImage(ref, name);
  }

  private async require(buildId: string): Promise<TemplateBuildInfo> {
    const b = await this.deps.store.build(buildId);
    if (!b) {
      throw new BurrowError(ErrorCode.TemplateBuildNotFound, `template build ${buildId} not found`, {
        details: { buildId },
      });
    }
    return b;
  }

  private async log(
    buildId: string,
    level: TemplateBuildLogEntry["level"],
    message: string,
    step?: number,
    finished = false,
  ): Promise<void> {
    const entry: TemplateBuildLogEntry = { at: this.now().toISOString(), level, message };
    if (step !== undefined) entry.step = step;
    await this.deps.store.appendLog(buildId, entry);
    this.events.emit(buildId, entry, finished);
  }

  private async build(info: TemplateBuildInfo, plan: BuildPlan): Promise<TemplateBuildInfo> {
    const started = performance.now();
    const releases: (() => void)[] = [];
    const total = plan.steps.length;
    let current = 0;
    const output: string[] = [];
    let lines: OutputLines | undefined;
    try {
      info.status = "building";
      await this.deps.store.updateBuild(info);
      const config: TemplateConfig = structuredClone(plan.base.config);
      const digests = [...((await this.deps.store.version(plan.base.versionId))?.layers ?? [])];
      const dirs = [...plan.base.layerDirs];
      let parent = stackKey([plan.base.versionId]);
      for (const [i, planned] of plan.steps.entries()) {
        current = i + 1;
        lines = undefined;
        if (this.closing) throw new Error(INTERRUPTED);
        const step = planned.step;
        const label = `step ${current}/${total}: ${describeStep(step)}`;
        if (!makesLayer(step)) {
          applyConfig(config, step);
          await this.log(info.id, "info", label, current);
          continue;
        }
        const key = cacheKey(parent, planned, config, plan.buildArgs);
        releases.push(this.deps.layers.pin(key));
        const t0 = performance.now();
        let hit = !plan.force && (await this.deps.layers.has(key));
        let dir: string;
        if (hit) {
          dir = this.deps.layers.dirOf(key);
          await this.log(info.id, "info", `${label}: cache hit`, current);
        } else {
          await this.log(info.id, "info", `${label}: running`, current);
          const shared = this.making.get(key);
          if (shared) hit = true;
          // The step's output goes into the log line by line as it arrives.
          lines = new OutputLines((line) => this.log(info.id, "info", `  ${line}`, current), MAX_OUTPUT_LINES);
          const streamed = lines;
          const making =
            shared ??
            this.deps.steps
              .run(plan.name, planned, [...dirs].reverse(), config, key, (chunk) => streamed.write(chunk))
              .then((r) => {
                output.splice(0, output.length, ...r.output.split("\n"));
                return r.dir;
              });
          if (!shared) {
            this.making.set(key, making);
            void making.finally(() => this.making.delete(key)).catch(() => undefined);
          }
          dir = await making;
          if (!shared) await this.endOutput(info.id, current, lines, output);
          await this.log(
            info.id,
            "info",
            `${label}: ${shared ? "made by a concurrent build" : "done"} in ${seconds(t0)}`,
            current,
          );
        }
        digests.push(key);
        dirs.push(dir);
        parent = key;
        info.stepsDone++;
        if (hit) info.cacheHits++;
        await this.deps.store.updateBuild(info);
      }
      if (this.closing) throw new Error(INTERRUPTED);
      if (plan.request.start) Object.assign(config, plan.request.start);
      await this.deps.catalog.addVersion(plan.name, digests, config, { id: info.versionId });
      for (const tag of plan.tags) await this.deps.catalog.tag(plan.name, tag, info.versionId);
      info.status = "ready";
      info.finishedAt = this.now().toISOString();
      // Contexts go first: a poller that sees the new status must find the last log line too.
      await this.endContexts(info.id);
      await this.deps.store.updateBuild(info);
      this.deps.onFinished?.("ready", (performance.now() - started) / 1000, { ...info });
      await this.log(
        info.id,
        "info",
        `built ${plan.name}:${plan.tags.join(",")} = ${info.versionId} in ${seconds(started)} (${info.cacheHits}/${info.stepsTotal} layer steps from cache)`,
        undefined,
        true,
      );
    } catch (err) {
      // A build close() marked failed stays as it was marked.
      if (this.closing) return { ...info, status: "error" };
      const failed = err instanceof StepFailed ? err : undefined;
      const reason = errorMessage(err);
      const failedLines = failed ? failed.output.split("\n") : [];
      if (failed) await this.endOutput(info.id, current, lines, failedLines);
      const logTail = failedLines
        .filter((l) => l !== "")
        .slice(-LOG_TAIL_LINES)
        .join("\n");
      const message = failed
        ? `step ${current}/${total} failed with exit code ${failed.exitCode}`
        : `step ${current}/${total} failed: ${reason}`;
      info.status = "error";
      info.error = { message, step: current, ...(failed ? { exitCode: failed.exitCode, logTail } : {}) };
      info.finishedAt = this.now().toISOString();
      // Contexts go first: a poller that sees the new status must find the last log line too.
      await this.endContexts(info.id);
      await this.deps.store.updateBuild(info);
      this.deps.onFinished?.("failed", (performance.now() - started) / 1000, { ...info });
      await this.log(info.id, "error", `build failed: ${message}; the previous version stays current`, current, true);
      this.deps.logger.warn({ buildId: info.id, err: reason }, "template build failed");
    } finally {
      // Layers of a failed build stay as cache for the next try; they go at the next deletion
      // or start if no version has come to use them.
      for (const release of releases) release();
    }
    return { ...info };
  }

  /**
   * Ends a step's output in the log: the last partial line and how many lines were not kept; or,
   * when nothing arrived while it ran (a runtime that gives output only at the end), all of it.
   */
  private async endOutput(
    buildId: string,
    step: number,
    streamed: OutputLines | undefined,
    all: string[],
  ): Promise<void> {
    if (streamed === undefined || streamed.received === 0) {
      await this.logOutput(buildId, step, all);
      return;
    }
    streamed.end();
    await streamed.flushed();
    if (streamed.dropped > 0)
      await this.log(
        buildId,
        "info",
        `(${streamed.dropped} more lines not kept; the end of the output is kept with a failure)`,
        step,
      );
  }

  private async logOutput(buildId: string, step: number, lines: string[]): Promise<void> {
    const trimmed = lines.at(-1) === "" ? lines.slice(0, -1) : lines;
    const shown = trimmed.length > MAX_OUTPUT_LINES ? trimmed.slice(-MAX_OUTPUT_LINES) : trimmed;
    if (shown.length < trimmed.length)
      await this.log(buildId, "info", `(${trimmed.length - shown.length} earlier lines not kept)`, step);
    for (const line of shown) await this.log(buildId, "info", `  ${line}`, step);
  }
}

function applyConfig(config: TemplateConfig, step: BuildPlan["steps"][number]["step"]): void {
  switch (step.type) {
    case "env":
      Object.assign(config.env, step.vars);
      break;
    case "workdir":
      config.workdir = step.path;
      break;
    case "user":
      config.user = step.user;
      break;
    case "label":
      Object.assign(config.labels, step.labels);
      break;
    case "expose":
      config.exposedPorts = [...new Set([...config.exposedPorts, ...step.ports])];
      break;
    default:
      break;
  }
}

/** The uploaded archives a build reads: its COPY contexts and an `oci-archive:`/`docker-archive:` base. */
function contextsOf(request: TemplateBuildRequest): Set<string> {
  const hashes = new Set<string>();
  for (const step of request.steps) if (step.type === "copy") hashes.add(step.contextHash);
  const archive = "image" in request.from ? /^(?:oci|docker)-archive:([0-9a-f]{64})$/.exec(request.from.image) : null;
  if (archive?.[1] !== undefined) hashes.add(archive[1]);
  return hashes;
}

/**
 * Splits output chunks into lines; keeps the first `max` lines and counts the rest. Lines are
 * emitted one after another, in order (`flushed` resolves once all emitted so far are stored).
 */
class OutputLines {
  private partial = "";
  private chain: Promise<void> = Promise.resolve();
  private kept = 0;
  dropped = 0;
  received = 0;

  constructor(
    private readonly emit: (line: string) => Promise<void>,
    private readonly max: number,
  ) {}

  write(chunk: string): void {
    if (chunk === "") return;
    this.received += chunk.length;
    const parts = (this.partial + chunk).split("\n");
    this.partial = parts.pop() ?? "";
    for (const line of parts) this.line(line);
  }

  end(): void {
    if (this.partial !== "") this.line(this.partial);
    this.partial = "";
  }

  private line(line: string): void {
    if (this.kept >= this.max) this.dropped++;
    else {
      this.kept++;
      // A line the log could not take is dropped; the build goes on.
      this.chain = this.chain.then(() => this.emit(line)).catch(() => undefined);
    }
  }

  flushed(): Promise<void> {
    return this.chain;
  }
}

function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)}s`;
}
