import { access, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BurrowError, ErrorCode } from "@burrow/core";

const FREEZER_ROOT = "/sys/fs/cgroup/freezer";
const FREEZE_TIMEOUT_MS = 5_000;

/**
 * The cgroup v1 freezer of a sandbox (runsc puts the sandbox, gofer and systrap stubs in
 * `<controller>/burrow/<id>`). Freezing takes well under a millisecond and thawing likewise,
 * against 10–30 ms for `runsc pause`/`resume` here: this is standby's fast path.
 */
export class Freezer {
  constructor(private readonly root = FREEZER_ROOT) {}

  private stateFile(id: string): string {
    return join(this.root, "burrow", id, "freezer.state");
  }

  async available(id: string): Promise<boolean> {
    try {
      await access(this.stateFile(id));
      return true;
    } catch {
      return false;
    }
  }

  async state(id: string): Promise<"FROZEN" | "FREEZING" | "THAWED" | "absent"> {
    try {
      return (await readFile(this.stateFile(id), "utf8")).trim() as "FROZEN" | "FREEZING" | "THAWED";
    } catch {
      return "absent";
    }
  }

  /** PIDs in the sandbox's cgroup, or null when the cgroup does not exist. */
  async processes(id: string): Promise<number[] | null> {
    try {
      const text = await readFile(join(this.root, "burrow", id, "cgroup.procs"), "utf8");
      return text.split("\n").filter(Boolean).map(Number);
    } catch {
      return null;
    }
  }

  async freeze(id: string): Promise<void> {
    await writeFile(this.stateFile(id), "FROZEN");
    const deadline = Date.now() + FREEZE_TIMEOUT_MS;
    while ((await this.state(id)) !== "FROZEN") {
      if (Date.now() > deadline) {
        await writeFile(this.stateFile(id), "THAWED");
        throw new BurrowError(ErrorCode.RuntimeFailed, `sandbox ${id} did not freeze within ${FREEZE_TIMEOUT_MS} ms`);
      }
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  async thaw(id: string): Promise<void> {
    await writeFile(this.stateFile(id), "THAWED");
  }
}
