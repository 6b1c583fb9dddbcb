/**
 * CallContext bounds one client call in time and lets the caller cancel it: a deadline (one
 * timer per call, not per attempt) and an optional AbortSignal. The DeadlineExceededError is
 * created only when the deadline passes: creating it up front (for a stack that shows the
 * caller) cost 8-10 µs per operation, 23-31% of the client's busy time (docs/performance.md);
 * its message names the operation instead.
 * Everything the call awaits goes through `race` or `sleep`, which reject once the call failed.
 */
import { AbortedError, DeadlineExceededError, type StrataError } from './errors.js';

/** DEADLINE_MS_MAX bounds any deadline (one day): longer ones are a unit mistake. */
export const DEADLINE_MS_MAX = 86_400_000;

/** checkDeadlineMs throws RangeError unless `ms` is a positive number of ms up to a day. */
export function checkDeadlineMs(ms: number, what = 'deadlineMs'): number {
  if (typeof ms !== 'number' || !(ms > 0) || ms > DEADLINE_MS_MAX) {
    throw new RangeError(`${what} must be a number in (0, ${DEADLINE_MS_MAX}], got ${ms}`);
  }
  return ms;
}

/**
 * CALL_ENDED stops work still racing after its call returned (the sibling reads of a failed
 * range). One shared instance: nobody but such orphans ever sees it.
 */
const CALL_ENDED = new AbortedError('the call already ended');

/** CallContext is the deadline and cancellation of one call. */
export class CallContext {
  /** deadlineAt is the wall-clock time (Date.now scale) the call must finish by. */
  readonly deadlineAt: number;
  readonly #signal: AbortSignal | undefined;
  readonly #timer: NodeJS.Timeout;
  readonly #onAbort: (() => void) | null = null;
  /** Invariant: once set, failure never changes and every racer has been rejected with it. */
  #failure: StrataError | null = null;
  #racers: Set<(error: StrataError) => void> | null = null;

  constructor(what: string, deadlineMs: number, signal?: AbortSignal) {
    checkDeadlineMs(deadlineMs);
    this.deadlineAt = Date.now() + deadlineMs;
    this.#signal = signal;
    this.#timer = setTimeout(
      () => this.#fail(new DeadlineExceededError(`${what}: no answer within ${deadlineMs} ms`)),
      deadlineMs,
    );
    if (signal) {
      this.#onAbort = () => this.#fail(abortError(what, signal));
      if (signal.aborted) this.#fail(abortError(what, signal));
      else signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  /** failure is the error the call failed with (deadline or abort), or null. */
  get failure(): StrataError | null {
    return this.#failure;
  }

  /** remainingMs is the time left before the deadline (0 when passed). */
  remainingMs(): number {
    return Math.max(0, this.deadlineAt - Date.now());
  }

  /** race settles like `promise`, or rejects with the call's failure if that comes first. */
  race<T>(promise: Promise<T>): Promise<T> {
    if (this.#failure) return Promise.reject(this.#failure);
    const racers = (this.#racers ??= new Set());
    return new Promise<T>((resolve, reject) => {
      racers.add(reject);
      promise.then(
        (value) => {
          racers.delete(reject);
          resolve(value);
        },
        (error: unknown) => {
          racers.delete(reject);
          reject(error);
        },
      );
    });
  }

  /** sleep waits `ms` (cut short by the deadline, which then rejects). */
  sleep(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const wait = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, ms));
    });
    return this.race(wait).finally(() => clearTimeout(timer));
  }

  /** throwIfFailed throws the call's failure, if any. */
  throwIfFailed(): void {
    if (this.#failure) throw this.#failure;
  }

  /**
   * dispose ends the call: it releases the timer and the abort listener, and stops any work
   * still racing (the sibling reads of a failed range) with an AbortedError.
   */
  dispose(): void {
    clearTimeout(this.#timer);
    if (this.#onAbort) this.#signal?.removeEventListener('abort', this.#onAbort);
    if (!this.#failure) this.#fail(CALL_ENDED);
  }

  #fail(error: StrataError): void {
    if (this.#failure) return;
    this.#failure = error;
    clearTimeout(this.#timer);
    if (this.#racers) for (const reject of this.#racers) reject(error);
    this.#racers = null;
  }
}

function abortError(what: string, signal: AbortSignal | undefined): AbortedError {
  const reason: unknown = signal?.reason;
  const detail = reason instanceof Error ? `: ${reason.message}` : '';
  return new AbortedError(`${what}: aborted${detail}`, { cause: reason });
}
