/** The Sandbox resource: lifecycle over the REST API, plus commands, files and terminals. */
import type {
  CreateSandboxRequest,
  EgressPolicy,
  EgressPolicyInput,
  HealthResponse,
  LifecyclePolicy,
  ListSandboxesResponse,
  SandboxEvent,
  SandboxInfo,
  SandboxNetworkSettings,
  SandboxResources,
  SecretBinding,
  UpdateNetworkRequest,
  UpdateSandboxRequest,
} from "@burrow/core";
import { Checkpoints } from "./checkpoints.js";
import {
  type CodeContext,
  CodeInterpreter,
  type CreateCodeContextOptions,
  type Execution,
  type RunCodeOptions,
} from "./code.js";
import { Commands } from "./commands.js";
import { type ConnectionOptions, resolveConfig } from "./config.js";
import { EnvdClient } from "./envd.js";
import { SandboxNotFoundError } from "./errors.js";
import { Filesystem } from "./filesystem.js";
import { ApiClient, type RequestOptions } from "./http.js";
import { Previews } from "./previews.js";
import { Pty } from "./pty.js";

/** Connection settings plus the per-call signal and timeout. */
export interface SandboxApiOptions extends ConnectionOptions, RequestOptions {}

export interface SandboxCreateOptions extends SandboxApiOptions {
  /** Template name; default "base". */
  template?: string;
  /** Environment variables for every command in the sandbox. */
  envs?: Record<string, string>;
  /** String labels, filterable with `Sandbox.list({ metadata })`. */
  metadata?: Record<string, string>;
  resources?: Partial<SandboxResources>;
  /** When the sandbox sleeps: standbyAfterMs, hibernateAfterMs, deleteAfterMs (0 = never). */
  lifecycle?: Partial<LifecyclePolicy>;
  /** Egress policy from the first command on; default allow everything (see docs/networking.md). */
  egress?: EgressPolicyInput;
  /**
   * Secrets (stored with `Secrets.create`) the egress proxy may send to the given hosts; the
   * sandbox sees only `{{secret:NAME}}`, in the env var NAME.
   */
  secrets?: SecretBinding[];
}

export interface SandboxListOptions extends SandboxApiOptions {
  /** Only sandboxes carrying all these labels. */
  metadata?: Record<string, string>;
}

function sandboxPath(id: string): string {
  return `/v1/sandboxes/${encodeURIComponent(id)}`;
}

/** Encodes a label filter as the `metadata` query value: `k1=v1&k2=v2`. */
export function encodeMetadataFilter(metadata: Record<string, string>): string {
  return new URLSearchParams(metadata).toString();
}

export class Sandbox {
  readonly commands: Commands;
  readonly files: Filesystem;
  readonly pty: Pty;
  readonly checkpoints: Checkpoints;
  readonly previews: Previews;
  private readonly code: CodeInterpreter;

  private constructor(
    readonly sandboxId: string,
    private readonly api: ApiClient,
  ) {
    const envd = new EnvdClient(api, sandboxId);
    this.commands = new Commands(envd);
    this.files = new Filesystem(envd);
    this.pty = new Pty(envd, this.commands);
    this.checkpoints = new Checkpoints(api, sandboxId);
    this.previews = new Previews(api, sandboxId);
    this.code = new CodeInterpreter(api, sandboxId);
  }

  /**
   * Runs code in the sandbox's code interpreter (a `code-interpreter` sandbox): Python by default,
   * `language: "js"`, or a context from `createCodeContext`. Variables persist per context.
   * Exceptions come back in `execution.error`; a timeout or abort interrupts the code.
   */
  runCode(code: string, opts?: RunCodeOptions): Promise<Execution> {
    return this.code.runCode(code, opts);
  }

  createCodeContext(opts?: CreateCodeContextOptions): Promise<CodeContext> {
    return this.code.createContext(opts);
  }

  listCodeContexts(opts?: RequestOptions): Promise<CodeContext[]> {
    return this.code.listContexts(opts);
  }

  restartCodeContext(context: CodeContext | string, opts?: RequestOptions): Promise<void> {
    return this.code.restartContext(context, opts);
  }

  removeCodeContext(context: CodeContext | string, opts?: RequestOptions): Promise<void> {
    return this.code.removeContext(context, opts);
  }

  /** The sandbox's network settings: egress policy and brokered secrets. */
  getNetwork(opts?: RequestOptions): Promise<SandboxNetworkSettings> {
    return this.api.json<SandboxNetworkSettings>(
      { method: "GET", path: `${sandboxPath(this.sandboxId)}/network`, subject: "sandbox" },
      opts,
      `reading the network settings of sandbox ${this.sandboxId}`,
    );
  }

  private putNetwork(json: UpdateNetworkRequest, opts: RequestOptions | undefined, what: string) {
    return this.api.json<SandboxNetworkSettings>(
      { method: "PUT", path: `${sandboxPath(this.sandboxId)}/network`, subject: "sandbox", json },
      opts,
      `${what} of sandbox ${this.sandboxId}`,
    );
  }

  /** The sandbox's egress policy. */
  async getEgress(opts?: RequestOptions): Promise<EgressPolicy> {
    return (await this.getNetwork(opts)).egress;
  }

  /** Replaces the egress policy; the sandbox's next connection follows it. */
  async setEgress(policy: EgressPolicyInput, opts?: RequestOptions): Promise<EgressPolicy> {
    return (await this.putNetwork({ egress: policy }, opts, "setting the egress policy")).egress;
  }

  /**
   * Replaces the secrets bound to the sandbox (see `Secrets`). Each bound secret's name is an
   * env var holding its placeholder `{{secret:NAME}}`; the egress proxy puts the value in its
   * place in request headers to the bound hosts only. An empty list unbinds all.
   */
  async setSecrets(bindings: SecretBinding[], opts?: RequestOptions): Promise<SecretBinding[]> {
    return (await this.putNetwork({ secrets: bindings }, opts, "binding secrets")).secrets;
  }

  /**
   * The host that reaches `port` inside the sandbox through the server's proxy:
   * `<port>-<sandboxId>.<domain>`. The port is private until `previews.create(port, …)`
   * issues a token or makes it public.
   */
  getHost(port: number): string {
    return `${port}-${this.sandboxId}.${this.api.config.previewDomain}`;
  }

  /** Creates a sandbox and resolves once it is running. */
  static async create(opts: SandboxCreateOptions = {}): Promise<Sandbox> {
    const api = new ApiClient(await resolveConfig(opts));
    const request: CreateSandboxRequest = {};
    if (opts.template !== undefined) request.template = opts.template;
    if (opts.envs !== undefined) request.env = opts.envs;
    if (opts.metadata !== undefined) request.metadata = opts.metadata;
    if (opts.resources !== undefined) request.resources = opts.resources;
    if (opts.lifecycle !== undefined) request.lifecycle = opts.lifecycle;
    if (opts.egress !== undefined || opts.secrets !== undefined) {
      request.network = {
        ...(opts.egress === undefined ? {} : { egress: opts.egress }),
        ...(opts.secrets === undefined ? {} : { secrets: opts.secrets }),
      };
    }
    const info = await api.json<SandboxInfo>(
      { method: "POST", path: "/v1/sandboxes", json: request },
      opts,
      "creating a sandbox",
    );
    return new Sandbox(info.id, api);
  }

  /** Attaches to an existing sandbox; throws SandboxNotFoundError when there is none. */
  static async connect(sandboxId: string, opts: SandboxApiOptions = {}): Promise<Sandbox> {
    const api = new ApiClient(await resolveConfig(opts));
    await getInfo(api, sandboxId, opts);
    return new Sandbox(sandboxId, api);
  }

  static async list(opts: SandboxListOptions = {}): Promise<SandboxInfo[]> {
    const api = new ApiClient(await resolveConfig(opts));
    const query = opts.metadata === undefined ? {} : { metadata: encodeMetadataFilter(opts.metadata) };
    const res = await api.json<ListSandboxesResponse>(
      { method: "GET", path: "/v1/sandboxes", query },
      opts,
      "listing sandboxes",
    );
    return res.sandboxes;
  }

  static async getInfo(sandboxId: string, opts: SandboxApiOptions = {}): Promise<SandboxInfo> {
    return getInfo(new ApiClient(await resolveConfig(opts)), sandboxId, opts);
  }

  /** Deletes a sandbox; false when it did not exist. */
  static async kill(sandboxId: string, opts: SandboxApiOptions = {}): Promise<boolean> {
    return kill(new ApiClient(await resolveConfig(opts)), sandboxId, opts);
  }

  /** The server's health; needs no API key. */
  static async health(opts: SandboxApiOptions = {}): Promise<HealthResponse> {
    const api = new ApiClient(await resolveConfig(opts));
    return api.json<HealthResponse>({ method: "GET", path: "/v1/health" }, opts, "checking server health");
  }

  async getInfo(opts?: RequestOptions): Promise<SandboxInfo> {
    return getInfo(this.api, this.sandboxId, opts);
  }

  /** Deletes this sandbox; false when it was already gone. */
  async kill(opts?: RequestOptions): Promise<boolean> {
    return kill(this.api, this.sandboxId, opts);
  }

  private action(path: string, what: string, opts?: RequestOptions, json?: unknown): Promise<SandboxInfo> {
    return this.api.json<SandboxInfo>(
      { method: "POST", path: `${sandboxPath(this.sandboxId)}/${path}`, subject: "sandbox", json: json ?? {} },
      opts,
      `${what} sandbox ${this.sandboxId}`,
    );
  }

  /** Standby now: processes frozen, memory kept; any later call wakes it in about a millisecond. */
  pause(opts?: RequestOptions): Promise<SandboxInfo> {
    return this.action("pause", "pausing", opts);
  }

  /** Hibernate now: memory and processes written to disk; any later call restores them. */
  hibernate(opts?: RequestOptions): Promise<SandboxInfo> {
    return this.action("hibernate", "hibernating", opts);
  }

  /** Wakes a sleeping sandbox (any call does this implicitly). */
  resume(opts?: RequestOptions): Promise<SandboxInfo> {
    return this.action("resume", "resuming", opts);
  }

  /** Starts the sandbox afresh on its files: for a sandbox in `error`, or to drop its processes. */
  restart(opts?: RequestOptions): Promise<SandboxInfo> {
    return this.action("restart", "restarting", opts);
  }

  /** Keeps the sandbox awake for `durationMs` (default: its standbyAfterMs) without other activity. */
  keepAlive(durationMs?: number, opts?: RequestOptions): Promise<SandboxInfo> {
    return this.action("keepalive", "keeping alive", opts, durationMs === undefined ? {} : { durationMs });
  }

  /** Changes the sleep policy and/or replaces the metadata. */
  update(request: UpdateSandboxRequest, opts?: RequestOptions): Promise<SandboxInfo> {
    return this.api.json<SandboxInfo>(
      { method: "PATCH", path: sandboxPath(this.sandboxId), subject: "sandbox", json: request },
      opts,
      `updating sandbox ${this.sandboxId}`,
    );
  }

  /** Lifecycle events (created, standby, hibernated, woken, …), oldest first. */
  async events(opts?: RequestOptions & { after?: number }): Promise<SandboxEvent[]> {
    const query: Record<string, string> = opts?.after === undefined ? {} : { after: String(opts.after) };
    const res = await this.api.json<{ events: SandboxEvent[] }>(
      { method: "GET", path: `${sandboxPath(this.sandboxId)}/events`, subject: "sandbox", query },
      opts,
      `listing events of sandbox ${this.sandboxId}`,
    );
    return res.events;
  }
}

function getInfo(api: ApiClient, id: string, opts: RequestOptions | undefined): Promise<SandboxInfo> {
  return api.json<SandboxInfo>(
    { method: "GET", path: sandboxPath(id), subject: "sandbox" },
    opts,
    `getting sandbox ${id}`,
  );
}

async function kill(api: ApiClient, id: string, opts: RequestOptions | undefined): Promise<boolean> {
  try {
    await api.empty({ method: "DELETE", path: sandboxPath(id), subject: "sandbox" }, opts, `deleting sandbox ${id}`);
    return true;
  } catch (err) {
    if (err instanceof SandboxNotFoundError) return false;
    throw err;
  }
}
