/**
 * Cancellation for one networked operation: merges the caller's AbortSignal with a deadline,
 * and remembers why it was aborted so the operation can throw that reason instead of the
 * transport's generic AbortError.
 */
import { ErrorCode } from "@burrow/core";
import { TimeoutError } from "./errors.js";

export class OperationScope {
  private readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly onUserAbort: () => void;

  constructor(private readonly userSignal: AbortSignal | undefined) {
    this.onUserAbort = () => this.abort(userSignal?.reason);
    if (userSignal?.aborted) this.abort(userSignal.reason);
    else userSignal?.addEventListener("abort", this.onUserAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get aborted(): boolean {
    return this.controller.signal.aborted;
  }

  /** True when the caller's own signal caused the abort. */
  get abortedByCaller(): boolean {
    return this.userSignal?.aborted === true && this.controller.signal.reason === this.userSignal.reason;
  }

  /** (Re)arms the deadline; `ms` of 0 or less clears it. `what` names the operation in the error. */
  setDeadline(ms: number, what: string, hint = "pass a larger requestTimeoutMs, or 0 to disable it"): void {
    this.clearDeadline();
    if (ms <= 0) return;
    this.timer = setTimeout(() => {
      this.abort(new TimeoutError(ErrorCode.Timeout, `${what} timed out after ${ms} ms; ${hint}`));
    }, ms);
  }

  clearDeadline(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  abort(reason?: unknown): void {
    this.clearDeadline();
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  /** The abort reason when aborted, otherwise `err` itself. */
  reasonFor(err: unknown): unknown {
    return this.controller.signal.aborted ? this.controller.signal.reason : err;
  }

  /** Releases the timer and the listener on the caller's signal. */
  dispose(): void {
    this.clearDeadline();
    this.userSignal?.removeEventListener("abort", this.onUserAbort);
  }
}
