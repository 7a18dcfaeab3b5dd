import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import {
  BurrowError,
  type CreateSandboxRequest,
  DEFAULT_LIFECYCLE,
  DEFAULT_TEMPLATE,
  type EgressPolicy,
  ErrorCode,
  errorMessage,
  type LifecyclePolicy,
  type Logger,
  newSandboxId,
  type SandboxInfo,
  type SandboxResources,
  type UpdateSandboxRequest,
} from "@burrow/core";
import { type AgentEndpoint, MAX_NETWORK_INDEX, type Runtime } from "@burrow/runtime";
import type { SandboxRecord, SandboxStore } from "../store/sandbox-store.js";
import type { Catalog } from "../templates/catalog.js";
import type { PreparedVolumes, VolumeService } from "../volumes/volume-service.js";
import type { ActivityTracker } from "./activity.js";
import { admit, defaultResources, type HostCapacity, resized } from "./admission.js";
import type { AgentClient } from "./agent-client.js";
import type { KeyedMutex } from "./keyed-mutex.js";
import type { LifecycleService } from "./lifecycle.js";
import type { SandboxSettings } from "./sandbox-settings.js";
import { hasStartCommands, startTemplateCommands } from "./template-start.js";
import type { Transitions } from "./transitions.js";

/** `pool` of a fork's sandbox until the whole fork has started and its ids are handed out. */
export const PENDING_FORK = "(fork in progress)";
/** `pool` of the hidden sandboxes template build steps run in (deleted at start if a stop left one). */
export const TEMPLATE_BUILD_POOL = "(template build)";

export interface ClaimRequest {
  metadata: Record<string, string>;
  env: Record<string, string>;
  lifecycle: LifecyclePolicy;
}

/** Where create looks first for an already running sandbox (the warm pool). */
export interface WarmSource {
  /** A running sandbox of `template` at version `versionId` (what the template resolves to now). */
  claim(
    template: string,
    resources: SandboxResources,
    request: ClaimRequest,
    versionId?: string,
  ): Promise<SandboxRecord | undefined>;
}

export interface SandboxServiceDeps {
  store: SandboxStore;
  runtime: Runtime;
  templates: Catalog;
  transitions: Transitions;
  activity: ActivityTracker;
  locks: KeyedMutex;
  lifecycle: LifecycleService;
  logger: Logger;
  agents: AgentClient;
  /** Egress policy, secret bindings and other per-sandbox rows: set at create, dropped at delete. */
  settings: SandboxSettings;
  /** Volumes mounted at create (and by forks, like their source). */
  volumes?: VolumeService;
  /** What one sandbox may ask for at most (admission check). */
  host: HostCapacity;
  now?: () => Date;
  /** CA certificate (PEM) installed in every new sandbox's trust store: the egress CA. */
  trustedCaPem?: string;
  /** Told how long each API create took and whether a warm-pool sandbox served it. */
  onCreated?: (source: "warm" | "cold", seconds: number) => void;
}

export function toInfo(record: SandboxRecord): SandboxInfo {
  const { env: _env, agentToken: _token, networkIndex: _net, stateSince: _since, pool: _pool, ...info } = record;
  return info;
}

export interface CreateFreshOptions {
  /** Read-only layer between the template and the new sandbox's files (a fork's snapshot). */
  extraLower?: string;
  /** Called right after the sandbox row is written, before the runtime starts it. */
  onInserted?: (id: string) => Promise<void>;
  /** Sandbox whose egress policy and secret bindings the new one gets (a fork's source). */
  settingsOf?: string;
  /** Layers (top first) to start on instead of the template's: a template build step's. */
  layers?: string[];
  /** The template version to start on (a fork's source's), instead of what `template` resolves to now. */
  templateVersion?: string;
  /** Volumes to mount (checked and held by VolumeService.prepare); a fork gets its source's. */
  volumes?: PreparedVolumes;
  /**
   * A memory image to restore into the new sandbox instead of booting it (a fork of a full
   * checkpoint; its files come in `extraLower`): no start commands run, the processes are there.
   */
  restoreImage?: string;
}

/**
 * Sandbox orchestration: every way in (REST, E2B, MCP, forks, the warm pool, lifecycle timers)
 * creates and deletes through here, so a sandbox's settings are set, rolled back and dropped the
 * same way. Also look up, list, update, and noticing sandboxes that died.
 */
export class SandboxService {
  private readonly now: () => Date;
  private warm: WarmSource | undefined;

  constructor(private readonly deps: SandboxServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** What a sandbox gets for the resources its request leaves out (warm-pool sandboxes: all of them). */
  defaultResources(): SandboxResources {
    return defaultResources(this.deps.host);
  }

  usePool(pool: WarmSource): void {
    this.warm = pool;
  }

  /**
   * Creates a sandbox (from the warm pool when one fits) with the request's egress policy and
   * secret bindings — or `egress`, a policy the caller compiled (the E2B API). Everything is
   * checked before anything starts; a failure after the start deletes the sandbox again.
   */
  async create(request: CreateSandboxRequest, egress?: EgressPolicy): Promise<SandboxRecord> {
    const started = performance.now();
    const template = request.template ?? DEFAULT_TEMPLATE;
    const resolved = await this.deps.templates.resolve(template);
    // A snapshot's memory image was taken with fixed resources; its sandboxes get them, all but
    // the disk, which holds files only.
    const snapshot = resolved.snapshotResources;
    const resources =
      snapshot === undefined
        ? { ...this.defaultResources(), ...request.resources }
        : { ...snapshot, diskMb: request.resources?.diskMb ?? snapshot.diskMb ?? this.defaultResources().diskMb };
    admit(resources, this.deps.host);
    const lifecycle: LifecyclePolicy = { ...DEFAULT_LIFECYCLE, ...request.lifecycle };
    const settings = await this.deps.settings.prepare(request, egress);
    // Each bound secret's placeholder is in the env from the first command on.
    // The template's ENV first; the request's own variables win.
    const env = { ...resolved.config.env, ...settings.env, ...request.env };
    const metadata = request.metadata ?? {};
    const mounts = request.volumes ?? [];
    if (mounts.length > 0) {
      if (!this.deps.volumes) throw new BurrowError(ErrorCode.BadRequest, "this server does not serve volumes");
      if (resolved.snapshotResources !== undefined) {
        throw new BurrowError(
          ErrorCode.BadRequest,
          `template '${template}' is a snapshot; its sandboxes cannot mount volumes`,
        );
      }
      // Warm sandboxes run without the mounts: a sandbox with volumes always starts fresh.
      const volumes = await this.deps.volumes.prepare(mounts);
      let record: SandboxRecord;
      try {
        record = await this.createFresh(template, resources, lifecycle, metadata, env, null, { volumes });
      } finally {
        volumes.release();
      }
      try {
        await settings.apply(record);
      } catch (err) {
        await this.delete(record.id).catch(() => false);
        throw err;
      }
      return record;
    }
    let warm = await this.warm?.claim(template, resources, { metadata, env, lifecycle }, resolved.versionId);
    if (warm?.templateVersion !== undefined && warm.templateVersion !== resolved.versionId) {
      // Started before the template's tag moved: not what was asked for.
      await this.delete(warm.id).catch(() => false);
      warm = undefined;
    }
    const record = warm ?? (await this.createFresh(template, resources, lifecycle, metadata, env, null));
    try {
      await settings.apply(record);
    } catch (err) {
      await this.delete(record.id).catch(() => false);
      throw err;
    }
    this.deps.onCreated?.(warm ? "warm" : "cold", (performance.now() - started) / 1000);
    return record;
  }

  /** Starts a new sandbox. `pool` names the warm pool it is made for (or PENDING_FORK), if any. */
  async createFresh(
    template: string,
    resources: SandboxRecord["resources"],
    lifecycle: LifecyclePolicy,
    metadata: Record<string, string>,
    env: Record<string, string>,
    pool: string | null,
    options: CreateFreshOptions = {},
  ): Promise<SandboxRecord> {
    const resolved =
      options.layers === undefined
        ? await this.deps.templates.resolve(options.templateVersion ?? template)
        : { layerDirs: options.layers };
    const started = performance.now();
    const now = this.now().toISOString();
    // Written before the runtime acts, so a crash mid-create leaves a row to reconcile.
    const record = await this.deps.store.insertWithNetworkIndex(
      {
        id: newSandboxId((n) => randomBytes(n)),
        template,
        ...("versionId" in resolved ? { templateVersion: resolved.versionId } : {}),
        state: "starting",
        metadata,
        env,
        resources,
        lifecycle,
        agentToken: randomBytes(24).toString("hex"),
        createdAt: now,
        updatedAt: now,
        lastActivityAt: now,
        stateSince: now,
        pool,
      },
      MAX_NETWORK_INDEX,
    );
    const volumes =
      options.volumes ??
      (options.settingsOf === undefined ? undefined : await this.deps.volumes?.prepareLike(options.settingsOf));
    try {
      if (volumes) await this.deps.volumes?.record(record.id, volumes);
    } finally {
      if (options.volumes === undefined) volumes?.release();
    }
    await options.onInserted?.(record.id);
    this.deps.activity.touch(record.id);
    const log = this.deps.logger.child({ sandboxId: record.id });
    try {
      const spec = {
        id: record.id,
        templateLayers: resolved.layerDirs,
        resources: record.resources,
        agentToken: record.agentToken,
        networkIndex: record.networkIndex,
        ...(options.extraLower === undefined ? {} : { extraLower: options.extraLower }),
        ...(this.deps.trustedCaPem === undefined ? {} : { trustedCaPem: this.deps.trustedCaPem }),
        ...(volumes === undefined ? {} : { binds: volumes.binds }),
      };
      const snapshot = "snapshotImageDir" in resolved ? resolved.snapshotImageDir : undefined;
      if (options.restoreImage !== undefined) {
        // A fork with memory: the image's processes run on in this sandbox's id, address and token.
        await this.deps.runtime.restoreAsNew({ ...spec, imageDir: options.restoreImage });
      } else if (snapshot === undefined) await this.deps.runtime.create(spec);
      else {
        // A snapshot version: its memory image restored into this sandbox's new id, address and
        // token, so the processes it holds run on. The first request with the new token (initAgent's
        // ready check) makes the agent take it and drop the image's.
        await this.deps.runtime.restoreAsNew({
          ...spec,
          imageDir: snapshot,
          upperSnapshot: join(dirname(snapshot), "upper"),
        });
      }
      await this.deps.lifecycle.initAgent(record);
      if (options.settingsOf !== undefined) await this.deps.settings.copy(options.settingsOf, record.id);
      const restored = snapshot !== undefined || options.restoreImage !== undefined;
      if (!restored && "config" in resolved && hasStartCommands(resolved.config)) {
        try {
          await startTemplateCommands(this.deps.agents, this.agentEndpoint(record), record.agentToken, resolved.config);
        } catch (err) {
          // Nothing half-made: the sandbox goes, and the error says why (its output included).
          await this.deps.transitions.move(record, "running", {
            type: "created",
            reason: "created; start command failed",
          });
          await this.delete(record.id).catch(() => false);
          throw err;
        }
      }
      await this.deps.transitions.move(record, "running", {
        type: "created",
        reason:
          pool === PENDING_FORK
            ? "created for a fork"
            : pool === TEMPLATE_BUILD_POOL
              ? "created for a template build step"
              : pool
                ? `started for the ${pool} warm pool`
                : "created",
        durationMs: performance.now() - started,
      });
      log.debug({ template }, "sandbox created");
      return record;
    } catch (err) {
      if ((await this.deps.store.get(record.id))?.state === "deleted") throw err; // already taken down
      log.error({ err: errorMessage(err) }, "sandbox create failed");
      await this.deps.runtime.destroy(record.id, record.networkIndex).catch(() => undefined);
      await this.deps.transitions.move(record, "error", {
        type: "create_failed",
        reason: errorMessage(err),
        error: errorMessage(err),
      });
      throw err instanceof BurrowError
        ? err
        : new BurrowError(ErrorCode.RuntimeFailed, errorMessage(err), { cause: err });
    }
  }

  agentEndpoint(record: SandboxRecord): AgentEndpoint {
    return this.deps.runtime.agentEndpoint(record.id, record.networkIndex);
  }

  /** Runs `work` holding the sandbox's lock: no sleep, wake or liveness check runs meanwhile. */
  withLock<T>(id: string, work: () => Promise<T>): Promise<T> {
    return this.deps.locks.run(id, work);
  }

  /**
   * Changes the limits of a sandbox, running or asleep, at once: its CPU quota and its disk's size
   * (see `resized` for what may change). Forks and later starts get the new values.
   */
  async resize(id: string, wanted: Partial<SandboxResources>): Promise<SandboxRecord> {
    return this.withLock(id, async () => {
      const record = await this.get(id);
      const next = resized(record.resources, wanted, this.deps.host);
      if (record.state !== "running" && record.state !== "standby" && record.state !== "hibernated") {
        throw new BurrowError(
          ErrorCode.Conflict,
          `sandbox ${id} is ${record.state}; change its resources once it settles`,
          {
            details: { sandboxId: id, state: record.state },
          },
        );
      }
      await this.deps.runtime.updateResources(id, next);
      await this.deps.store.update(id, { resources: next }, this.now().toISOString());
      return await this.get(id);
    });
  }

  /** Makes sandboxes made for a fork visible, together, once all of them have started. */
  async handOut(ids: string[]): Promise<void> {
    await this.deps.store.handOut(ids, PENDING_FORK);
  }

  async get(id: string): Promise<SandboxRecord> {
    const record = await this.deps.store.get(id);
    if (!record || record.state === "deleted" || record.pool !== null) {
      throw new BurrowError(ErrorCode.SandboxNotFound, `sandbox ${id} not found`, { details: { sandboxId: id } });
    }
    return record;
  }

  async list(metadata: Record<string, string> = {}): Promise<SandboxRecord[]> {
    const wanted = Object.entries(metadata);
    return (await this.deps.store.listLive()).filter(
      (r) => r.pool === null && wanted.every(([k, v]) => r.metadata[k] === v),
    );
  }

  async update(id: string, request: UpdateSandboxRequest): Promise<SandboxRecord> {
    const record = await this.get(id);
    const fields: { lifecycle?: LifecyclePolicy; metadata?: Record<string, string> } = {};
    if (request.lifecycle) fields.lifecycle = { ...record.lifecycle, ...request.lifecycle };
    if (request.metadata) fields.metadata = request.metadata;
    await this.deps.store.update(id, fields, this.now().toISOString());
    this.deps.activity.touch(id);
    return await this.get(id);
  }

  /**
   * Deletes a sandbox, everything it had on the host, and every row kept for it (egress policy,
   * secret bindings, previews, E2B options). False when it did not exist.
   */
  delete(id: string): Promise<boolean> {
    return this.deps.locks.run(id, async () => {
      const record = await this.deps.store.get(id);
      if (!record || record.state === "deleted") return false;
      const started = performance.now();
      if (record.state !== "deleting")
        await this.deps.transitions.move(record, "deleting", { reason: "delete requested" });
      try {
        // Pooled connections go with it: its address is handed to the next sandbox.
        this.deps.agents.disconnect(this.agentEndpoint(record));
        await this.deps.runtime.destroy(id, record.networkIndex);
      } catch (err) {
        await this.deps.transitions.move(record, "error", {
          type: "delete_failed",
          reason: errorMessage(err),
          error: `delete failed: ${errorMessage(err)}`,
        });
        throw err;
      }
      await this.deps.settings.forget(id);
      await this.deps.transitions.move(record, "deleted", {
        reason: "deleted",
        durationMs: performance.now() - started,
      });
      this.deps.activity.forget(id);
      return true;
    });
  }

  /** Marks a sandbox whose runtime process vanished as `error`, keeping its files. */
  async checkAlive(record: SandboxRecord): Promise<boolean> {
    if (record.state !== "running" && record.state !== "standby") return record.state !== "error";
    const status = await this.deps.runtime.status(record.id);
    if (status.status === "running" || status.status === "paused") return true;
    return this.deps.locks.run(record.id, async () => {
      const current = await this.deps.store.get(record.id);
      if (!current || (current.state !== "running" && current.state !== "standby")) return true;
      const again = await this.deps.runtime.status(record.id);
      if (again.status === "running" || again.status === "paused") return true;
      const tail = await this.deps.runtime.agentLogTail(record.id);
      const reason = `the sandbox process exited unexpectedly (runsc: ${again.status})${tail ? `; agent log: ${tail}` : ""}`;
      await this.deps.transitions.move(current, "error", { type: "died", reason, error: reason });
      record.state = "error";
      record.error = reason;
      return false;
    });
  }

  /** Marks running or standby sandboxes whose runsc process is gone as `error`. Runs periodically. */
  async checkAll(): Promise<void> {
    for (const record of await this.deps.store.listAwakeOrExpiring()) {
      if (record.state !== "running" && record.state !== "standby") continue;
      if (!this.deps.locks.busy(record.id)) await this.checkAlive(record);
    }
  }
}
