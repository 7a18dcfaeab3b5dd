import { execFile } from "node:child_process";
import { copyFile, link, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { BurrowError, ErrorCode, type TemplateConfig } from "@burrow/core";
import { type Runtime, removeTree } from "@burrow/runtime";
import { type SandboxService, TEMPLATE_BUILD_POOL } from "../services/sandbox-service.js";
import type { PlannedStep } from "./build-plan.js";
import type { ContextStore } from "./contexts.js";
import type { LayerStore } from "./layer-store.js";

const run = promisify(execFile);
export const DEFAULT_STEP_TIMEOUT_MS = 30 * 60_000;
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** Where a COPY step's build sandbox sees the context archive (a read-only layer of its own). */
const CONTEXT_IN_SANDBOX = ".burrow-build/context.tar";

/** Runs `$@` in the workdir `$1` (made first, as Docker makes WORKDIR). */
const IN_WORKDIR = 'wd=$1; shift; mkdir -p -- "$wd" 2>/dev/null; cd -- "$wd" && exec "$@"';

/**
 * Copies sources out of the context archive inside the sandbox, so destinations resolve in the
 * image (its symlinks, its users for --chown). Args: workdir owner mode dest into-dir sources….
 */
const COPY_SCRIPT = `set -e
wd=$1; owner=$2; mode=$3; dest=$4; into=$5; shift 5
mkdir -p -- "$wd"; cd -- "$wd"
stage=$(mktemp -d /.burrow-copy.XXXXXX)
tar -x -f /${CONTEXT_IN_SANDBOX} -C "$stage"
chown -R -h -- "$owner" "$stage"
if [ -n "$mode" ]; then chmod -R -- "$mode" "$stage"; fi
for src in "$@"; do
  if [ -d "$stage/$src" ] && [ ! -L "$stage/$src" ]; then
    mkdir -p -- "$dest"; cp -a -- "$stage/$src/." "$dest/"
  elif [ "$into" = 1 ]; then
    mkdir -p -- "$dest"; cp -a -- "$stage/$src" "$dest/"
  else
    mkdir -p -- "$(dirname -- "$dest")"; cp -a -- "$stage/$src" "$dest"
  fi
done
rm -rf -- "$stage"`;

export interface StepOutput {
  exitCode: number;
  output: string;
}

export interface StepRunnerDeps {
  sandboxes: SandboxService;
  runtime: Runtime;
  layers: LayerStore;
  contexts: ContextStore;
  stepTimeoutMs?: number;
}

/** A failed step: its exit code and output, for the build's error. */
export class StepFailed extends Error {
  constructor(
    readonly exitCode: number,
    readonly output: string,
  ) {
    super(`the step exited with code ${exitCode}`);
  }
}

/**
 * Runs one RUN or COPY step in a hidden build sandbox on `layerDirs` (top first), through the
 * real runtime, and moves the stopped sandbox's upper dir into the layer store as `digest`.
 */
export class StepRunner {
  constructor(private readonly deps: StepRunnerDeps) {}

  async run(
    templateName: string,
    planned: PlannedStep,
    layerDirs: string[],
    config: TemplateConfig,
    digest: string,
    /** Called with the step's output as it arrives. */
    onOutput?: (chunk: string) => void,
  ): Promise<StepOutput & { dir: string }> {
    const { step } = planned;
    const extraLower = step.type === "copy" ? await this.contextLayer(step.contextHash) : undefined;
    const sandboxes = this.deps.sandboxes;
    const record = await sandboxes.createFresh(
      templateName,
      sandboxes.defaultResources(),
      { standbyAfterMs: 0, hibernateAfterMs: 0, deleteAfterMs: 0 },
      {},
      {},
      TEMPLATE_BUILD_POOL,
      { layers: layerDirs, ...(extraLower === undefined ? {} : { extraLower }) },
    );
    try {
      const done = await sandboxes.withLock(record.id, async () => {
        const result = await this.exec(record.id, planned, config, onOutput);
        if (result.exitCode !== 0) return { ...result, dir: "" };
        await this.deps.runtime.stop(record.id);
        const tmp = await this.deps.layers.tempPath(digest);
        await this.deps.runtime.takeUpper(record.id, tmp);
        return { ...result, dir: tmp };
      });
      if (done.exitCode !== 0) throw new StepFailed(done.exitCode, done.output);
      const size = await sizeOf(done.dir);
      return { ...done, dir: await this.deps.layers.commit(digest, done.dir, size) };
    } finally {
      await sandboxes.delete(record.id).catch(() => false);
      if (extraLower !== undefined) await removeTree(extraLower);
    }
  }

  private async exec(
    id: string,
    planned: PlannedStep,
    config: TemplateConfig,
    onOutput: ((chunk: string) => void) | undefined,
  ): Promise<StepOutput> {
    const { step } = planned;
    const runtime = this.deps.runtime;
    const timeoutMs = this.deps.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
    const workdir = config.workdir ?? "/";
    const env = { PATH: DEFAULT_PATH, HOME: "/root", ...config.env };
    if (step.type === "copy") {
      const into =
        step.dest.endsWith("/") ||
        step.sources.length > 1 ||
        (planned.copySources ?? []).some((m) => m === undefined || m.length > 1);
      const sources = (planned.copySources ?? []).flatMap((m) => m ?? ["."]);
      const argv = [
        "/bin/sh",
        "-c",
        COPY_SCRIPT,
        "sh",
        workdir,
        step.chown ?? "0:0",
        step.chmod ?? "",
        step.dest,
        into ? "1" : "0",
        ...sources,
      ];
      return output(await runtime.exec(id, argv, { env, timeoutMs, ...(onOutput ? { onOutput } : {}) }));
    }
    if (step.type !== "run") throw new Error(`step ${step.type} makes no layer`);
    const user = config.user === undefined ? undefined : await this.numericUser(id, config.user, env);
    const command = step.argv ?? ["/bin/sh", "-c", step.shell ?? ""];
    const argv = ["/bin/sh", "-c", IN_WORKDIR, "sh", workdir, ...command];
    if (user !== undefined && workdir !== "/") {
      // The workdir is made as root (Docker makes WORKDIR so), then the command runs as the user.
      await runtime.exec(id, ["mkdir", "-p", "--", workdir], { env, timeoutMs: 30_000 });
    }
    return output(
      await runtime.exec(id, argv, {
        env: { ...env, ...step.buildEnv },
        timeoutMs,
        ...(user === undefined ? {} : { user }),
        ...(onOutput ? { onOutput } : {}),
      }),
    );
  }

  /** `name[:group]` → `uid:gid` as the image knows them (runsc exec takes numbers). */
  private async numericUser(id: string, user: string, env: Record<string, string>): Promise<string> {
    const [name = "", group] = user.split(":");
    const lookup = async (argv: string[], what: string) => {
      const r = await this.deps.runtime.exec(id, argv, { env, timeoutMs: 30_000 });
      const value = r.stdout.trim();
      if (r.exitCode !== 0 || !/^\d+$/.test(value)) {
        throw new BurrowError(ErrorCode.TemplateBuildFailed, `USER ${user}: no ${what} '${argv.at(-1)}' in the image`);
      }
      return value;
    };
    const uid = /^\d+$/.test(name) ? name : await lookup(["id", "-u", "--", name], "user");
    let gid: string;
    if (group === undefined) gid = /^\d+$/.test(name) ? name : await lookup(["id", "-g", "--", name], "user");
    else
      gid = /^\d+$/.test(group)
        ? group
        : await lookup(["/bin/sh", "-c", 'getent group "$1" | cut -d: -f3', "sh", group], "group");
    return `${uid}:${gid}`;
  }

  /** A read-only layer holding only the context archive, at CONTEXT_IN_SANDBOX. */
  private async contextLayer(hash: string): Promise<string> {
    const dir = await this.deps.layers.tempPath("context");
    await mkdir(join(dir, ".burrow-build"), { recursive: true, mode: 0o755 });
    const target = join(dir, CONTEXT_IN_SANDBOX);
    await link(this.deps.contexts.tarPath(hash), target).catch(() =>
      copyFile(this.deps.contexts.tarPath(hash), target),
    );
    return dir;
  }
}

function output(r: { exitCode: number; stdout: string; stderr: string }): StepOutput {
  return {
    exitCode: r.exitCode,
    output: `${r.stdout}${r.stderr && r.stdout && !r.stdout.endsWith("\n") ? "\n" : ""}${r.stderr}`,
  };
}

/** Bytes a layer directory holds (du never follows links). */
async function sizeOf(dir: string): Promise<number> {
  try {
    const { stdout } = await run("du", ["-s", "-B1", "--one-file-system", "--", dir], { timeout: 60_000 });
    return Number.parseInt(stdout.split("\t")[0] ?? "0", 10) || 0;
  } catch {
    return 0;
  }
}
