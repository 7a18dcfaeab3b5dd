import { randomBytes } from "node:crypto";
import { BurrowError, DEFAULT_TEMPLATE_TAG, ErrorCode, parseTemplateRef, prefixedId } from "@burrow/core";
import type { CheckpointService } from "../../checkpoints/service.js";
import type { SandboxService } from "../../services/sandbox-service.js";
import type { E2bStore } from "../../store/e2b-store.js";
import type { TemplateCatalog } from "../../templates/contract.js";
import type { SnapshotTemplates } from "../../templates/snapshots.js";
import { encodeNextToken } from "./schemas.js";
import type { E2bService } from "./service.js";
import { type E2bSandbox, onTimeoutOf, policyFor, timeoutSecondsToMs, toE2bSandbox } from "./wire.js";

export interface E2bSnapshotDeps {
  e2b: E2bService;
  sandboxes: SandboxService;
  checkpoints: CheckpointService;
  snapshots: SnapshotTemplates;
  catalog: TemplateCatalog;
  store: E2bStore;
}

/** E2B's SnapshotInfo: a snapshot template named `name:tag`. */
export interface E2bSnapshotInfo {
  snapshotID: string;
  names: string[];
}

/** One entry of E2B's fork answer: the fork, or why it did not start. */
export type E2bForkResult = { sandbox: E2bSandbox } | { error: { code: number; message: string } };

export interface SnapshotQuery {
  sandboxId: string | undefined;
  name: string | undefined;
  limit: number;
  after: { createdAt: string; id: string } | undefined;
}

/** What a fork's timeout is when the request names none: E2B's documented default. */
export const DEFAULT_FORK_TIMEOUT_S = 15;

/**
 * E2B's snapshots and forks over Burrow's: an E2B snapshot is a Burrow snapshot template (the
 * sandbox's files and memory, `name:tag`), listed by the tags that point at snapshot versions;
 * an E2B fork is a Burrow fork of the sandbox as it is now.
 */
export class E2bSnapshots {
  constructor(private readonly deps: E2bSnapshotDeps) {}

  /**
   * Makes a snapshot template of the sandbox: under `name` (a new version of that snapshot
   * template, its tag moved) or a new generated name. A name that belongs to a template built
   * some other way is refused (409) rather than given a snapshot version.
   */
  async create(sandboxId: string, name: string | undefined): Promise<E2bSnapshotInfo> {
    await this.deps.e2b.get(sandboxId);
    const ref =
      name === undefined
        ? { name: prefixedId("snapshot", (n) => randomBytes(n)), tag: DEFAULT_TEMPLATE_TAG }
        : parseTemplateRef(name);
    if (!ref) {
      throw new BurrowError(
        ErrorCode.ValidationFailed,
        `snapshot name '${name}' is not a valid name[:tag] (names: lower-case letters, digits, '.', '_', '-')`,
        { details: { field: "name" } },
      );
    }
    const existing = await this.deps.catalog.get(ref.name);
    if (existing?.versions.some((v) => v.snapshot === undefined)) {
      throw new BurrowError(
        ErrorCode.Conflict,
        `template ${ref.name} exists and is not a snapshot template; choose another snapshot name`,
        { details: { template: ref.name } },
      );
    }
    const id = `${ref.name}:${ref.tag}`;
    await this.deps.snapshots.fromSandbox(id, sandboxId);
    return { snapshotID: id, names: [id] };
  }

  /** One page of snapshots (oldest first), filtered by source sandbox and by name or `name:tag`. */
  async list(query: SnapshotQuery): Promise<{ page: E2bSnapshotInfo[]; nextToken: string | undefined }> {
    const all: Array<{ id: string; name: string; createdAt: string; source: string }> = [];
    for (const t of await this.deps.catalog.list()) {
      for (const [tag, versionId] of Object.entries(t.tags)) {
        const v = t.versions.find((x) => x.id === versionId);
        if (v?.snapshot === undefined) continue;
        all.push({ id: `${t.name}:${tag}`, name: t.name, createdAt: v.createdAt, source: v.snapshot.sourceSandboxId });
      }
    }
    const key = (e: { createdAt: string; id: string }) => `${e.createdAt}\0${e.id}`;
    const { name, sandboxId, after } = query;
    const matching = all
      .filter(
        (e) =>
          (sandboxId === undefined || e.source === sandboxId) &&
          (name === undefined || (name.includes(":") ? e.id === name : e.name === name)),
      )
      .sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    const rest = after === undefined ? matching : matching.filter((e) => key(e) > key(after));
    const page = rest.slice(0, query.limit);
    const last = page.at(-1);
    return {
      page: page.map((e) => ({ snapshotID: e.id, names: [e.id] })),
      nextToken: rest.length > page.length && last ? encodeNextToken(last.createdAt, last.id) : undefined,
    };
  }

  /**
   * `count` forks of the sandbox as it is now (Burrow's fork: all start or none), each with the
   * source's E2B timeout mode and `timeoutS` as its timeout. A sandbox killed or unknown → 404.
   */
  async fork(id: string, count: number, timeoutS: number, domain: string | null): Promise<E2bForkResult[]> {
    const source = await this.deps.e2b.get(id);
    const onTimeout = (await this.deps.store.onTimeout(id)) ?? onTimeoutOf(source.lifecycle);
    const lifecycle = policyFor(onTimeout, timeoutSecondsToMs(timeoutS), source.lifecycle);
    const { sandboxIds } = await this.deps.checkpoints.fork(id, "now", count);
    const forks: E2bForkResult[] = [];
    for (const forkId of sandboxIds) {
      await this.deps.store.setOnTimeout(forkId, onTimeout);
      forks.push({ sandbox: toE2bSandbox(await this.deps.sandboxes.update(forkId, { lifecycle }), domain) });
    }
    return forks;
  }
}
