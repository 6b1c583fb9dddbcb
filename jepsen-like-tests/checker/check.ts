/**
 * Whole-history checking: pairing, per-key decomposition, in-thread or worker-pool search, and
 * aggregation of per-key verdicts.
 */
import { availableParallelism } from 'node:os';
import { pairHistory, parseHistory } from './history.js';
import { checkKeysInWorkers } from './pool.js';
import type { CheckOptions, CheckResult, HistoryEvent, KeyResult, Operation } from './types.js';
import { checkKeySync } from './wgl.js';

/** Below this many ops, `workers: undefined` checks in-thread (thread start-up costs more). */
const AUTO_WORKERS_MIN_OPS = 20_000;

/** HistoryInput is a history as JSONL text or as an array of events. */
export type HistoryInput = string | readonly HistoryEvent[];

/** groupByKey splits operations into per-key sub-histories, keys in first-seen order. */
export function groupByKey(ops: readonly Operation[]): Map<string, Operation[]> {
  const groups = new Map<string, Operation[]>();
  for (const op of ops) {
    const g = groups.get(op.key);
    if (g === undefined) groups.set(op.key, [op]);
    else g.push(op);
  }
  return groups;
}

function toGroups(history: HistoryInput): { groups: Map<string, Operation[]>; dropped: number } {
  const events = typeof history === 'string' ? parseHistory(history) : history;
  const paired = pairHistory(events);
  return { groups: groupByKey(paired.ops), dropped: paired.droppedOpCount };
}

/**
 * aggregateResults combines per-key results: invalid if any key is invalid, else unknown if any
 * key is unknown, else valid.
 */
export function aggregateResults(
  results: readonly KeyResult[],
  droppedOpCount: number,
  elapsedMs: number,
): CheckResult {
  const out: CheckResult = {
    valid: true,
    keys: {},
    opCount: 0,
    droppedOpCount,
    anomalies: [],
    inconclusive: [],
    elapsedMs,
  };
  for (const r of results) {
    out.keys[r.key] = r;
    out.opCount += r.opCount;
    if (r.valid === false) {
      out.anomalies.push({ key: r.key, reason: r.reason ?? '', stuckOps: r.stuckOps ?? [] });
    } else if (r.valid === 'unknown') {
      out.inconclusive.push({ key: r.key, reason: r.reason ?? '' });
    }
  }
  if (out.anomalies.length > 0) out.valid = false;
  else if (out.inconclusive.length > 0) out.valid = 'unknown';
  return out;
}

/**
 * checkHistorySync checks a whole history in the calling thread, key by key. Throws a
 * HistoryError if the history is malformed.
 */
export function checkHistorySync(history: HistoryInput, opts: CheckOptions = {}): CheckResult {
  const started = performance.now();
  const { groups, dropped } = toGroups(history);
  const results = [...groups.values()].map((ops) => checkKeySync(ops, opts));
  return aggregateResults(results, dropped, performance.now() - started);
}

/**
 * checkHistory checks a whole history, each key independently, on a pool of
 * min(keys, workers ?? os.availableParallelism()) worker threads (in-thread when `workers` is 0,
 * or when it is undefined and the history is small). Rejects with a HistoryError if the history
 * is malformed.
 */
export async function checkHistory(
  history: HistoryInput,
  opts: CheckOptions = {},
): Promise<CheckResult> {
  const started = performance.now();
  const { groups, dropped } = toGroups(history);
  const lists = [...groups.values()];
  const total = lists.reduce((sum, ops) => sum + ops.length, 0);
  const auto = total < AUTO_WORKERS_MIN_OPS || lists.length < 2 ? 0 : availableParallelism();
  const size = Math.min(lists.length, opts.workers ?? auto);
  const results =
    size <= 0
      ? lists.map((ops) => checkKeySync(ops, opts))
      : await checkKeysInWorkers(lists, opts, size);
  return aggregateResults(results, dropped, performance.now() - started);
}
