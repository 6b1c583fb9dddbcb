/**
 * Public surface of the Strata linearizability checker for key-value histories. See README.md
 * for the algorithm, the history format and the meaning of fail / info / unknown.
 */

/** checkHistory checks a whole history (JSONL text or events), keys in parallel on workers. */
export { checkHistory } from './check.js';
/** checkHistorySync checks a whole history in the calling thread. */
export { checkHistorySync } from './check.js';
/** groupByKey splits paired operations into per-key sub-histories. */
export { groupByKey } from './check.js';
/** aggregateResults combines per-key results into a CheckResult. */
export { aggregateResults } from './check.js';
/** HistoryInput is a history as JSONL text or as an array of events. */
export type { HistoryInput } from './check.js';
/** checkKeySync checks the paired operations of one key in the calling thread. */
export { checkKeySync } from './wgl.js';
/** parseHistory parses JSONL text into events, with line-numbered validation errors. */
export { parseHistory } from './history.js';
/** pairHistory validates events and pairs invocations with completions into operations. */
export { pairHistory } from './history.js';
/** validateEvent lists the problems with one event object. */
export { validateEvent } from './history.js';
/** isValue tells whether a value is a register value (string, finite number or null). */
export { isValue } from './history.js';
/** HistoryError is thrown for a malformed history; `issues` lists every problem. */
export { HistoryError } from './history.js';
/** PairedHistory is the result of pairHistory. */
export type { PairedHistory } from './history.js';
/** formatResult renders a CheckResult as a short human summary. */
export { formatResult } from './format.js';
/** describeOp renders one operation compactly. */
export { describeOp } from './format.js';
/** formatValue renders a register value (null as `absent`). */
export { formatValue } from './format.js';
/** Types of the history format, options and results (see types.ts for each one's doc). */
export type {
  Anomaly,
  CasArgs,
  CheckOptions,
  CheckResult,
  EventType,
  HistoryEvent,
  Inconclusive,
  KeyResult,
  OpFunction,
  Operation,
  Validity,
  Value,
} from './types.js';
