/**
 * The store benchmark's closed-loop load generator: `concurrency` workers each run one
 * operation at a time, starting the next as soon as the previous one finished, until the
 * duration is over, the operation cap is reached or the signal fires (whichever comes first).
 * Every loop is bounded by that count and that time; an operation itself is bounded by the
 * client's deadline. It measures latency (LatencyHistogram), errors by code, and the client
 * process's CPU time and event-loop utilisation over the run.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { LatencyHistogram } from './store-histogram.js';

/** Operation runs the `sequence`-th operation of a run; it throws to report an error. */
export type Operation = (sequence: number) => Promise<void>;

/** LoadOptions bound one closed-loop run. */
export interface LoadOptions {
  concurrency: number;
  durationMs: number;
  /** opsMax caps the operations started (successful or not). */
  opsMax: number;
  signal: AbortSignal;
  operation: Operation;
}

/** LoadResult is what one run measured. */
export interface LoadResult {
  /** ops counts the operations that succeeded (the latencies in `histogram`). */
  ops: number;
  errors: ErrorTally;
  elapsedMs: number;
  histogram: LatencyHistogram;
  /** clientCpuUs is user+system CPU of this process during the run. */
  clientCpuUs: number;
  /** clientElu is the event-loop utilisation (0..1) of this process during the run. */
  clientElu: number;
}

const ERROR_CODES_MAX = 16;

/** ErrorTally counts errors by code and keeps the first message of each (bounded). */
export class ErrorTally {
  /** Invariant: at most ERROR_CODES_MAX codes plus 'OTHER'. */
  readonly byCode = new Map<string, { count: number; firstMessage: string }>();
  total = 0;

  /** add counts one error under its `code` (a StrataError's), else its name. */
  add(error: unknown): void {
    this.total++;
    const code = codeOf(error);
    const key = this.byCode.has(code) || this.byCode.size < ERROR_CODES_MAX ? code : 'OTHER';
    const entry = this.byCode.get(key);
    if (entry) entry.count++;
    else this.byCode.set(key, { count: 1, firstMessage: messageOf(error).slice(0, 300) });
  }

  /** toJSON lists the codes with their counts and first messages. */
  toJSON(): Record<string, { count: number; firstMessage: string }> {
    return Object.fromEntries(this.byCode);
  }
}

function codeOf(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const { code, name } = error as { code?: unknown; name?: unknown };
    if (typeof code === 'string' && code.length > 0) return code;
    if (typeof name === 'string' && name.length > 0) return name;
  }
  return 'UNKNOWN';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** checkLoadOptions refuses a run that would not be bounded. */
function checkLoadOptions(options: LoadOptions): void {
  const { concurrency, durationMs, opsMax } = options;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1 || concurrency > 10_000) {
    throw new RangeError(`concurrency ${concurrency} is not in [1, 10000]`);
  }
  if (!(durationMs > 0 && durationMs <= 3_600_000)) {
    throw new RangeError(`durationMs ${durationMs} is not in (0, 3600000]`);
  }
  if (!Number.isSafeInteger(opsMax) || opsMax < 1) {
    throw new RangeError(`opsMax ${opsMax} must be a positive integer`);
  }
}

/** runClosedLoop runs the closed loop described by `options` and returns its measurements. */
export async function runClosedLoop(options: LoadOptions): Promise<LoadResult> {
  checkLoadOptions(options);
  const { concurrency, durationMs, opsMax, signal, operation } = options;
  const histogram = new LatencyHistogram();
  const errors = new ErrorTally();
  let started = 0;
  const cpuStart = process.cpuUsage();
  const eluStart: EventLoopUtilization = performance.eventLoopUtilization();
  const startMs = performance.now();
  const endMs = startMs + durationMs;
  const worker = async (): Promise<void> => {
    while (started < opsMax && !signal.aborted && performance.now() < endMs) {
      const sequence = started++;
      const opStartMs = performance.now();
      try {
        await operation(sequence);
        histogram.record(performance.now() - opStartMs);
      } catch (error) {
        errors.add(error);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsedMs = performance.now() - startMs;
  const cpu = process.cpuUsage(cpuStart);
  const elu = performance.eventLoopUtilization(eluStart);
  return {
    ops: histogram.count,
    errors,
    elapsedMs,
    histogram,
    clientCpuUs: cpu.user + cpu.system,
    clientElu: elu.utilization,
  };
}
