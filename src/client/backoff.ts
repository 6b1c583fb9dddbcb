/**
 * Exponential back-off with full jitter (the AWS Architecture Blog's "full jitter"): the n-th
 * wait is uniform in [0, min(cap, base * 2^n)). Full jitter spreads the retries of many clients
 * that failed together (a leader election) instead of bunching them at the same instants.
 * The random source is an argument, so tests pin it.
 */

/** BackoffOptions bound the waits, in milliseconds. */
export interface BackoffOptions {
  /** baseMs is the bound of the first wait (default 10 ms). */
  baseMs?: number;
  /** capMs is the largest bound any wait may have (default 500 ms). */
  capMs?: number;
  /** random returns a number in [0, 1) (default Math.random). */
  random?: () => number;
}

/** BACKOFF_DEFAULTS are the defaults of BackoffOptions. */
export const BACKOFF_DEFAULTS = Object.freeze({ baseMs: 10, capMs: 500 });

/** Exponents above this cannot raise the bound further for any sane base (avoids Infinity). */
const EXPONENT_MAX = 30;

/** backoffBoundMs returns the upper bound of the wait before retry number `attempt` (0-based). */
export function backoffBoundMs(attempt: number, baseMs: number, capMs: number): number {
  const exponent = Math.min(Math.max(0, Math.floor(attempt)), EXPONENT_MAX);
  return Math.min(capMs, baseMs * 2 ** exponent);
}

/** Backoff yields successive full-jitter waits; `reset` starts again from the base. */
export class Backoff {
  /** baseMs bounds the first wait. */
  readonly baseMs: number;
  /** capMs bounds every wait. */
  readonly capMs: number;
  readonly #random: () => number;
  /** Invariant: #attempt counts the waits handed out since the last reset. */
  #attempt = 0;

  constructor(options: BackoffOptions = {}) {
    const baseMs = options.baseMs ?? BACKOFF_DEFAULTS.baseMs;
    const capMs = options.capMs ?? BACKOFF_DEFAULTS.capMs;
    if (!(baseMs > 0 && Number.isFinite(baseMs))) {
      throw new RangeError(`backoff baseMs must be a positive number, got ${baseMs}`);
    }
    if (!(capMs >= baseMs && Number.isFinite(capMs))) {
      throw new RangeError(`backoff capMs must be finite and >= baseMs ${baseMs}, got ${capMs}`);
    }
    this.baseMs = baseMs;
    this.capMs = capMs;
    this.#random = options.random ?? Math.random;
  }

  /** nextMs returns the next wait in [0, bound) and doubles the bound (up to capMs). */
  nextMs(): number {
    const bound = backoffBoundMs(this.#attempt, this.baseMs, this.capMs);
    this.#attempt++;
    const r = this.#random();
    const unit = r >= 0 && r < 1 ? r : 0;
    return Math.floor(unit * bound);
  }

  /** reset makes the next wait bounded by baseMs again. */
  reset(): void {
    this.#attempt = 0;
  }
}
