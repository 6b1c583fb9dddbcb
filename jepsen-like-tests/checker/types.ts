/**
 * Types shared by the linearizability checker: history events, paired operations, options and
 * results. Everything here is plain data so it can cross a `worker_threads` boundary.
 */

/** Value is a register value: a string, a number, or null (the key is absent). */
export type Value = string | number | null;

/** CasArgs is the invoke value of a compare-and-set: `[expected, new]`. */
export type CasArgs = [Value, Value];

/** EventType is the kind of a history event: an invocation or one of three completions. */
export type EventType = 'invoke' | 'ok' | 'fail' | 'info';

/** OpFunction is the operation a client performed on a key. */
export type OpFunction = 'read' | 'write' | 'cas';

/**
 * HistoryEvent is one line of a JSONL history: the invocation or completion of an operation by a
 * client `process`. `time` comes from one monotonic clock; ties are broken by array order.
 */
export interface HistoryEvent {
  process: number;
  type: EventType;
  f: OpFunction;
  key: string;
  value: Value | CasArgs;
  node?: string | number;
  time: number;
}

/**
 * Operation is an invocation paired with its completion. Only operations that may have taken
 * effect are kept: `fail` completions and indeterminate reads are dropped while pairing.
 */
export interface Operation {
  /** Index of the operation within the whole (paired) history, in invocation order. */
  id: number;
  process: number;
  f: OpFunction;
  key: string;
  /** write: the value written; cas: `[expected, new]`; read: null. */
  input: Value | CasArgs;
  /** read: the value read (null = absent); write/cas: null. */
  output: Value;
  /** `ok` = completed; `info` = indeterminate (may or may not have taken effect). */
  status: 'ok' | 'info';
  /** Position of the invoke event in the time-ordered history. */
  invokeSeq: number;
  /** Position of the completion event in the time-ordered history; null for `info`. */
  completeSeq: number | null;
  invokeTime: number;
  /** Time of the completion; null for `info` (the op is open-ended). */
  completeTime: number | null;
  node?: string | number;
}

/** Validity is the verdict for a key or a history; `"unknown"` means the search gave up. */
export type Validity = true | false | 'unknown';

/** CheckOptions bounds the search; every limit applies per key. */
export interface CheckOptions {
  /** Wall-clock limit per key in milliseconds; on expiry the key is `unknown`. */
  timeLimitMsPerKey?: number;
  /** Search step budget per key; on exhaustion the key is `unknown`. */
  maxStepsPerKey?: number;
  /**
   * Worker threads to use: 0 checks in-thread; undefined picks automatically (in-thread for
   * small histories, else min(keys, os.availableParallelism())).
   */
  workers?: number;
}

/** KeyResult is the verdict for one key's sub-history. */
export interface KeyResult {
  key: string;
  valid: Validity;
  /** Operations checked for this key (after dropping `fail`s and indeterminate reads). */
  opCount: number;
  /** Why the key is invalid or unknown. */
  reason?: string;
  /** For a failure: the longest partial linearization the search found. */
  longestLinearizedPrefix?: Operation[];
  /** For a failure: the ops that could be next after that prefix but cannot take effect. */
  stuckOps?: Operation[];
  /** For a failure: the register value after the longest prefix. */
  stateAfterPrefix?: Value;
  /** Search steps taken. */
  steps: number;
  /** Wall-clock time spent on this key. */
  elapsedMs: number;
}

/** Anomaly summarises one non-linearizable key. */
export interface Anomaly {
  key: string;
  reason: string;
  stuckOps: Operation[];
}

/** Inconclusive names a key whose search hit its time limit or step budget. */
export interface Inconclusive {
  key: string;
  reason: string;
}

/** CheckResult is the verdict for a whole history. */
export interface CheckResult {
  /** false if any key is invalid, else "unknown" if any key is unknown, else true. */
  valid: Validity;
  keys: Record<string, KeyResult>;
  /** Operations checked over all keys. */
  opCount: number;
  /** Operations dropped while pairing (`fail` completions and indeterminate reads). */
  droppedOpCount: number;
  anomalies: Anomaly[];
  inconclusive: Inconclusive[];
  elapsedMs: number;
}
