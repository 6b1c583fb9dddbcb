/**
 * Parsing, validation and pairing of histories: JSONL text -> events -> operations.
 */
import type { CasArgs, HistoryEvent, Operation, Value } from './types.js';

const EVENT_TYPES = new Set(['invoke', 'ok', 'fail', 'info']);
const FUNCTIONS = new Set(['read', 'write', 'cas']);
const MAX_REPORTED_ISSUES = 20;

/** Line numbers of events returned by parseHistory, so later errors can cite them. */
const sourceLines = new WeakMap<readonly HistoryEvent[], number[]>();

/** HistoryError reports a malformed history; `issues` lists every problem found. */
export class HistoryError extends Error {
  readonly issues: string[];

  constructor(issues: string[]) {
    const shown = issues.slice(0, MAX_REPORTED_ISSUES);
    const more = issues.length - shown.length;
    const tail = more > 0 ? `\n  ... and ${more} more` : '';
    super(`malformed history (${issues.length} issue(s)):\n  ${shown.join('\n  ')}${tail}`);
    this.name = 'HistoryError';
    this.issues = issues;
  }
}

/** isValue tells whether `v` is a register value: string, finite number or null. */
export function isValue(v: unknown): v is Value {
  return v === null || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
}

function isCasArgs(v: unknown): v is CasArgs {
  return Array.isArray(v) && v.length === 2 && isValue(v[0]) && isValue(v[1]);
}

function describe(v: unknown): string {
  return v === undefined ? 'undefined' : JSON.stringify(v);
}

/** Checks the `value` field for the event's f/type; returns an issue or null. */
function checkValue(e: Record<string, unknown>): string | null {
  const { f, type, value } = e;
  if (type === 'invoke' && f === 'write' && !isValue(value)) {
    return `write invoke needs a string/number/null value, got ${describe(value)}`;
  }
  if (type === 'invoke' && f === 'cas' && !isCasArgs(value)) {
    return `cas invoke needs value [expected, new], got ${describe(value)}`;
  }
  if (type === 'ok' && f === 'read' && !isValue(value)) {
    return `read ok needs the value read (null = absent), got ${describe(value)}`;
  }
  if (type === 'ok' && f === 'write' && value !== undefined && !isValue(value)) {
    return `write ok value must be a string/number/null, got ${describe(value)}`;
  }
  return null;
}

/** validateEvent returns the problems with one event object (empty if it is well formed). */
export function validateEvent(e: unknown): string[] {
  if (typeof e !== 'object' || e === null || Array.isArray(e)) {
    return [`event must be a JSON object, got ${describe(e)}`];
  }
  const r = e as Record<string, unknown>;
  const issues: string[] = [];
  if (typeof r.process !== 'number' || !Number.isInteger(r.process)) {
    issues.push(`"process" must be an integer, got ${describe(r.process)}`);
  }
  if (typeof r.type !== 'string' || !EVENT_TYPES.has(r.type)) {
    issues.push(`"type" must be invoke|ok|fail|info, got ${describe(r.type)}`);
  }
  if (typeof r.f !== 'string' || !FUNCTIONS.has(r.f)) {
    issues.push(`"f" must be read|write|cas, got ${describe(r.f)}`);
  }
  if (typeof r.key !== 'string') issues.push(`"key" must be a string, got ${describe(r.key)}`);
  if (typeof r.time !== 'number' || !Number.isFinite(r.time)) {
    issues.push(`"time" must be a finite number, got ${describe(r.time)}`);
  }
  if (r.node !== undefined && typeof r.node !== 'string' && typeof r.node !== 'number') {
    issues.push(`"node" must be a string or number, got ${describe(r.node)}`);
  }
  if (issues.length === 0) {
    const valueIssue = checkValue(r);
    if (valueIssue !== null) issues.push(valueIssue);
  }
  return issues;
}

/**
 * parseHistory parses JSONL text (one event per line; blank lines ignored) into events. It
 * throws a HistoryError naming the line of every malformed line.
 */
export function parseHistory(jsonlText: string): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  const lines: number[] = [];
  const issues: string[] = [];
  const rawLines = jsonlText.split('\n');
  for (let i = 0; i < rawLines.length; i++) {
    const text = rawLines[i].trim();
    if (text === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      issues.push(`line ${i + 1}: invalid JSON (${(err as Error).message})`);
      continue;
    }
    const problems = validateEvent(parsed);
    for (const p of problems) issues.push(`line ${i + 1}: ${p}`);
    if (problems.length === 0) {
      events.push(parsed as HistoryEvent);
      lines.push(i + 1);
    }
  }
  if (issues.length > 0) throw new HistoryError(issues);
  sourceLines.set(events, lines);
  return events;
}

/** PairedHistory is a history turned into operations, grouped by nothing yet. */
export interface PairedHistory {
  /** Operations that may have taken effect, ordered by invocation; `id` is the index. */
  ops: Operation[];
  /** Operations dropped: `fail` completions and reads that never returned `ok`. */
  droppedOpCount: number;
}

interface Pending {
  event: HistoryEvent;
  index: number;
  seq: number;
}

/** State of the pairing pass over the time-ordered events. */
class Pairer {
  readonly ops: Operation[] = [];
  readonly issues: string[] = [];
  dropped = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly retired = new Map<number, string>();

  constructor(private readonly where: (index: number) => string) {}

  invoke(e: HistoryEvent, index: number, seq: number): void {
    const retiredAt = this.retired.get(e.process);
    const open = this.pending.get(e.process);
    if (retiredAt !== undefined) {
      this.issues.push(
        `${this.where(index)}: process ${e.process} was retired by an indeterminate (info) ` +
          `completion at ${retiredAt}; a client must use a new process id after info`,
      );
    } else if (open !== undefined) {
      this.issues.push(
        `${this.where(index)}: process ${e.process} invoked again while its ${open.event.f} ` +
          `from ${this.where(open.index)} is still pending`,
      );
    } else {
      this.pending.set(e.process, { event: e, index, seq });
    }
  }

  complete(e: HistoryEvent, index: number, seq: number): void {
    const open = this.pending.get(e.process);
    const at = this.where(index);
    if (open === undefined) {
      this.issues.push(`${at}: ${e.type} for process ${e.process} with no pending invoke`);
      return;
    }
    const inv = open.event;
    if (inv.f !== e.f || inv.key !== e.key) {
      this.issues.push(
        `${at}: ${e.type} ${e.f} ${JSON.stringify(e.key)} does not match the pending ` +
          `${inv.f} ${JSON.stringify(inv.key)} invoked at ${this.where(open.index)}`,
      );
      return;
    }
    this.pending.delete(e.process);
    if (e.type === 'info') this.retired.set(e.process, at);
    if (e.f === 'write' && e.type === 'ok' && e.value !== undefined && e.value !== inv.value) {
      this.issues.push(
        `${at}: write ok value ${describe(e.value)} differs from the invoked ` +
          `${describe(inv.value)}`,
      );
      return;
    }
    if (e.type === 'fail') this.dropped++;
    else this.record(open, e.type === 'ok' ? e : null, seq);
  }

  /** Records an operation; `done` is the ok completion, or null for an indeterminate one. */
  record(open: Pending, done: HistoryEvent | null, seq: number): void {
    const inv = open.event;
    if (inv.f === 'read' && done === null) {
      this.dropped++;
      return;
    }
    const op: Operation = {
      id: 0,
      process: inv.process,
      f: inv.f,
      key: inv.key,
      input: inv.f === 'read' ? null : inv.value,
      output: inv.f === 'read' && done !== null ? (done.value as Value) : null,
      status: done === null ? 'info' : 'ok',
      invokeSeq: open.seq,
      completeSeq: done === null ? null : seq,
      invokeTime: inv.time,
      completeTime: done === null ? null : done.time,
    };
    const node = done?.node ?? inv.node;
    if (node !== undefined) op.node = node;
    this.ops.push(op);
  }

  /** Invocations that never completed are indeterminate. */
  finish(): void {
    for (const open of this.pending.values()) this.record(open, null, 0);
    this.pending.clear();
  }
}

/**
 * pairHistory validates events and pairs each invocation with its completion (events are
 * ordered by time, ties by array order). `fail` ops are dropped (they definitely did not take
 * effect), as are reads without an `ok`; an invoke without completion counts as `info`. Throws
 * a HistoryError for malformed events, completions without invocations, or a process reused
 * after an `info`.
 */
export function pairHistory(events: readonly HistoryEvent[]): PairedHistory {
  const lines = sourceLines.get(events);
  const where = (i: number): string => (lines ? `line ${lines[i]}` : `event #${i}`);
  const fieldIssues: string[] = [];
  events.forEach((e, i) => {
    for (const p of validateEvent(e)) fieldIssues.push(`${where(i)}: ${p}`);
  });
  if (fieldIssues.length > 0) throw new HistoryError(fieldIssues);
  const order = events.map((_, i) => i);
  order.sort((a, b) => events[a].time - events[b].time || a - b);
  const pairer = new Pairer(where);
  order.forEach((index, seq) => {
    const e = events[index];
    if (e.type === 'invoke') pairer.invoke(e, index, seq);
    else pairer.complete(e, index, seq);
  });
  pairer.finish();
  if (pairer.issues.length > 0) throw new HistoryError(pairer.issues);
  const ops = pairer.ops.sort((a, b) => a.invokeSeq - b.invokeSeq);
  ops.forEach((op, i) => (op.id = i));
  return { ops, droppedOpCount: pairer.dropped };
}
