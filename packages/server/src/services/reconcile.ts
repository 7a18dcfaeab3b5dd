import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "@burrow/core";
import type { Runtime } from "@burrow/runtime";
import type { EventStore } from "../store/event-store.js";
import type { SandboxRecord, SandboxStore } from "../store/sandbox-store.js";
import type { AgentClient } from "./agent-client.js";
import { PENDING_FORK, type SandboxService, TEMPLATE_BUILD_POOL } from "./sandbox-service.js";
import type { Transitions } from "./transitions.js";

export interface ReconcileDeps {
  store: SandboxStore;
  events: EventStore;
  runtime: Runtime;
  transitions: Transitions;
  sandboxes: SandboxService;
  imageDirOf: (id: string) => string;
  agents: AgentClient;
  logger: Logger;
}

/**
 * Brings the database in line with the host after a start, including after a SIGKILL at any
 * moment: the row says what the server was doing, runsc and the disk say what happened.
 */
export async function reconcileAtStart(deps: ReconcileDeps): Promise<void> {
  const { store, runtime, transitions } = deps;
  for (const record of await store.listLive()) {
    try {
      await reconcileOne(deps, record);
    } catch (err) {
      deps.logger.error({ sandboxId: record.id, err: String(err) }, "reconciling a sandbox failed");
    }
  }

  async function reconcileOne(d: ReconcileDeps, record: SandboxRecord): Promise<void> {
    const hasImage = existsSync(join(d.imageDirOf(record.id), "checkpoint.img"));
    const note = (reason: string) => ({ type: "reconciled", reason });
    if (record.pool === TEMPLATE_BUILD_POOL) {
      // A build step the stop interrupted: its build is failed at start and its layer never made.
      await d.sandboxes.delete(record.id);
      return;
    }
    if (record.pool === PENDING_FORK) {
      // A fork the stop interrupted: its caller never received these ids, so nobody will.
      d.logger.warn({ sandboxId: record.id }, "deleting a sandbox of an interrupted fork");
      await d.sandboxes.delete(record.id);
      return;
    }
    if (record.state === "deleting") {
      await d.sandboxes.delete(record.id);
      return;
    }
    if (record.state === "starting") {
      if ((await d.events.lastType(record.id)) === "restarting") {
        await transitions.move(record, "error", {
          ...note("a restart was interrupted by a server stop"),
          error: "a restart was interrupted; the files are kept — restart the sandbox again",
        });
        return;
      }
      await runtime.destroy(record.id, record.networkIndex).catch(() => undefined);
      await transitions.move(record, "error", {
        ...note("creation was interrupted by a server stop"),
        error: "creation was interrupted (the server stopped mid-create)",
      });
      return;
    }
    if (record.state === "hibernated" || record.state === "error") return;
    const status = (await runtime.status(record.id)).status;
    const alive = status === "running" || status === "paused";
    d.agents.disconnect(runtime.agentEndpoint(record.id, record.networkIndex));
    if (alive) {
      const actual = status === "paused" ? "standby" : "running";
      if (record.state === "hibernating" || record.state === "waking") {
        await transitions.move(record, actual, note(`${record.state} was interrupted; the sandbox is ${actual}`));
      } else if (record.state !== actual) {
        await transitions.move(record, actual, note(`runsc reports the sandbox ${status}`));
      }
      return;
    }
    if (hasImage && record.state !== "running" && record.state !== "standby") {
      const to = record.state === "waking" ? "hibernated" : "hibernated";
      await transitions.move(record, to, note(`${record.state} was interrupted; the checkpoint image is on disk`));
      return;
    }
    const reason = `the sandbox process is gone (runsc: ${status}) and there is no memory image`;
    await transitions.move(record, "error", {
      ...note(reason),
      error: `${reason}; restart the sandbox to start it on its files`,
    });
  }
}
