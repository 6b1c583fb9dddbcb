/**
 * One monotonic clock for a whole run (history events, nemesis events, status samples), and
 * abortable sleeps. Times are milliseconds since the run started, from `performance.now()`,
 * so the wall clock jumping cannot reorder events.
 */

/** Clock reads milliseconds since its creation on the monotonic clock. */
export class Clock {
  private readonly origin = performance.now();
  /** startedAtIso is the wall-clock time the clock started (for reports only). */
  readonly startedAtIso = new Date().toISOString();

  /** now returns the milliseconds since the clock started, rounded to microseconds. */
  now(): number {
    return Math.round((performance.now() - this.origin) * 1000) / 1000;
  }
}

/** sleep waits `ms`, or less if `signal` aborts (it then resolves, never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * waitFor polls `check` every `intervalMs` until it returns true (resolves true), `timeoutMs`
 * passes or `signal` aborts (resolves false). Bounded in time and in polls.
 */
export async function waitFor(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  intervalMs = 200,
  signal?: AbortSignal,
): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  const pollsMax = Math.ceil(timeoutMs / intervalMs) + 1;
  for (let poll = 0; poll < pollsMax && !signal?.aborted; poll++) {
    if (await check()) return true;
    if (performance.now() >= deadline) return false;
    await sleep(intervalMs, signal);
  }
  return false;
}

/** withTimeout races `promise` against a timer; on expiry it resolves to `fallback`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** mulberry32 (the core's seeded PRNG) drives workload and nemesis choices. */
export { mulberry32 } from '../../src/raft/config.js';
