import type { Logger, SandboxState } from "@burrow/core";
import type { EventStore } from "../store/event-store.js";
import type { SandboxRecord, SandboxStore } from "../store/sandbox-store.js";
import { assertTransition } from "./state-machine.js";

export interface TransitionNote {
  /** Event type; defaults to the target state. */
  type?: string;
  reason: string;
  /** Error text kept on the sandbox (state "error"), cleared otherwise. */
  error?: string;
  durationMs?: number;
}

export interface RecordedEvent {
  sandboxId: string;
  type: string;
  from?: SandboxState | undefined;
  durationMs?: number | undefined;
}

/** Moves a sandbox between states: checks the table, writes the row and an event, in that order. */
export class Transitions {
  private readonly listeners: ((e: RecordedEvent) => void)[] = [];

  constructor(
    private readonly store: SandboxStore,
    private readonly events: EventStore,
    private readonly logger: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async move(record: SandboxRecord, to: SandboxState, note: TransitionNote): Promise<void> {
    const from = record.state;
    assertTransition(record.id, from, to);
    const at = this.now().toISOString();
    await this.store.setState(record.id, to, note.error ?? null, at);
    record.state = to;
    record.stateSince = at;
    if (note.error === undefined) delete record.error;
    else record.error = note.error;
    await this.record(record.id, { type: note.type ?? to, from, to, reason: note.reason, durationMs: note.durationMs });
  }

  /** Calls `listener` with every event recorded from now on (metrics). */
  observe(listener: (e: RecordedEvent) => void): void {
    this.listeners.push(listener);
  }

  /** An event without a state change (e.g. a failed hibernation that left the sandbox in standby). */
  async record(
    sandboxId: string,
    e: { type: string; reason: string; from?: SandboxState; to?: SandboxState; durationMs?: number | undefined },
  ): Promise<void> {
    const event = { sandboxId, at: this.now().toISOString(), ...e };
    if (event.durationMs === undefined) delete event.durationMs;
    else event.durationMs = Math.round(event.durationMs);
    await this.events.add(event as Parameters<EventStore["add"]>[0]);
    for (const listener of this.listeners) listener(event);
    this.logger.info({ sandboxId, event: e.type, from: e.from, to: e.to, reason: e.reason }, "sandbox event");
  }
}
