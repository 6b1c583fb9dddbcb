/**
 * Single-key linearizability check: a Wing-Gong-Lowe search over a register model, with
 * memoisation of (linearized-op bitset, register state) pairs, plus sound reductions that are
 * described in README.md (pruned indeterminate ops, merged unobservable values, greedy reads,
 * no indeterminate op directly followed by a write).
 */
import { describeOp, formatValue } from './format.js';
import type { CasArgs, CheckOptions, KeyResult, Operation, Value } from './types.js';

const READ = 0;
const WRITE = 1;
const CAS = 2;
/** Steps between wall-clock checks (a power of two minus one, used as a mask). */
const CLOCK_MASK = 1023;
/** Step budget for the search that only looks for a prefix once a precheck found an anomaly. */
const PRECHECK_SEARCH_STEPS = 100_000;
const MAX_OPS_IN_REASON = 3;

/**
 * A key's ops compiled to typed arrays. Register values are interned to ints; every value that
 * no op can observe (no read returns it, no cas expects it) shares the id DEAD, since no op can
 * tell such values apart. That lets the memo merge states that differ only in a dead value.
 */
interface Prepared {
  ops: Operation[];
  kind: Uint8Array;
  a: Int32Array;
  b: Int32Array;
  info: Uint8Array;
  /** Id of the initial register value (null). */
  initial: number;
  required: number;
}

const DEAD = 0;

/** Values some op can observe: outputs of reads and expected values of cas. */
function observedValues(ops: readonly Operation[]): Set<Value> {
  const observed = new Set<Value>();
  for (const op of ops) {
    if (op.f === 'read') observed.add(op.output);
    else if (op.f === 'cas') observed.add((op.input as CasArgs)[0]);
  }
  return observed;
}

/**
 * Sound pre-search pruning of indeterminate ops that can never matter (see README): a write or
 * cas whose new value nobody observes, and a cas whose expected value nothing produces.
 */
function pruneInfoOps(ops: readonly Operation[]): Operation[] {
  let kept = ops.slice();
  for (;;) {
    const observed = observedValues(kept);
    const produced = new Set<Value>([null]);
    for (const op of kept) {
      if (op.f === 'write') produced.add(op.input as Value);
      else if (op.f === 'cas') produced.add((op.input as CasArgs)[1]);
    }
    const next = kept.filter((op) => {
      if (op.status === 'ok' || op.f === 'read') return true;
      if (op.f === 'write') return observed.has(op.input as Value);
      const [expected, value] = op.input as CasArgs;
      return observed.has(value) && produced.has(expected);
    });
    if (next.length === kept.length) return kept;
    kept = next;
  }
}

function prepare(all: readonly Operation[]): Prepared {
  const ops = pruneInfoOps(all);
  const n = ops.length;
  const observed = observedValues(ops);
  const ids = new Map<Value, number>();
  const intern = (v: Value): number => {
    if (!observed.has(v)) return DEAD;
    let id = ids.get(v);
    if (id === undefined) ids.set(v, (id = ids.size + 1));
    return id;
  };
  const p: Prepared = {
    ops,
    kind: new Uint8Array(n),
    a: new Int32Array(n),
    b: new Int32Array(n),
    info: new Uint8Array(n),
    initial: intern(null),
    required: 0,
  };
  ops.forEach((op, i) => {
    p.info[i] = op.status === 'info' ? 1 : 0;
    if (op.status === 'ok') p.required++;
    if (op.f === 'read') {
      p.kind[i] = READ;
      p.a[i] = intern(op.output);
    } else if (op.f === 'write') {
      p.kind[i] = WRITE;
      p.a[i] = intern(op.input as Value);
    } else {
      p.kind[i] = CAS;
      p.a[i] = intern((op.input as CasArgs)[0]);
      p.b[i] = intern((op.input as CasArgs)[1]);
    }
  });
  return p;
}

/**
 * Fast sound anomaly detection: an ok read, or an ok cas's expected value, naming a non-null
 * value that no write or cas of this key ever produced.
 */
function precheck(ops: readonly Operation[]): { reason: string; ops: Operation[] } | null {
  const produced = new Set<Value>([null]);
  for (const op of ops) {
    if (op.f === 'write') produced.add(op.input as Value);
    else if (op.f === 'cas') produced.add((op.input as CasArgs)[1]);
  }
  const bad = ops.filter((op) => {
    if (op.status !== 'ok') return false;
    if (op.f === 'read') return !produced.has(op.output);
    return op.f === 'cas' && !produced.has((op.input as CasArgs)[0]);
  });
  if (bad.length === 0) return null;
  const first = bad[0];
  const what =
    first.f === 'read'
      ? `read by process ${first.process} returned ${formatValue(first.output)}`
      : `cas by process ${first.process} succeeded expecting ` +
        formatValue((first.input as CasArgs)[0]);
  const others = bad.length > 1 ? ` (${bad.length} such ops)` : '';
  return {
    reason: `${what}, a value no write or cas ever produced for this key${others}`,
    ops: bad,
  };
}

/** Doubly linked list of call/return entries ordered by history position; 0 = head. */
interface Entries {
  next: Int32Array;
  prev: Int32Array;
  op: Int32Array;
  isCall: Uint8Array;
  /** Return entry of each op, or -1 for an indeterminate op (its return is +infinity). */
  ret: Int32Array;
}

function buildEntries(p: Prepared): Entries {
  const items: { seq: number; op: number; call: boolean }[] = [];
  p.ops.forEach((o, i) => {
    items.push({ seq: o.invokeSeq, op: i, call: true });
    if (o.completeSeq !== null) items.push({ seq: o.completeSeq, op: i, call: false });
  });
  items.sort((x, y) => x.seq - y.seq);
  const size = items.length + 2;
  const e: Entries = {
    next: new Int32Array(size),
    prev: new Int32Array(size),
    op: new Int32Array(size).fill(-1),
    isCall: new Uint8Array(size),
    ret: new Int32Array(p.ops.length).fill(-1),
  };
  for (let i = 0; i < size; i++) {
    e.next[i] = i + 1;
    e.prev[i] = i - 1;
  }
  items.forEach((it, i) => {
    e.op[i + 1] = it.op;
    e.isCall[i + 1] = it.call ? 1 : 0;
    if (!it.call) e.ret[it.op] = i + 1;
  });
  return e;
}

/** Deterministic 32-bit hash codes per op, for incremental (Zobrist) hashing of the bitset. */
function zobrist(n: number): Int32Array {
  const z = new Int32Array(n);
  let x = 0x2545f491;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    z[i] = x;
  }
  return z;
}

/**
 * A memo entry: the linearized set as the canonical slice of bitset words from the word holding
 * the first unlinearized op to the word holding the last linearized one (all words before `lo`
 * are full), plus the encoded search state.
 */
interface CacheEntry {
  lo: number;
  words: Uint32Array;
  st: number;
}

type Outcome = 'ok' | 'fail' | 'unknown' | 'stopped';
const NODE_START = -1;
const EXHAUSTED = -2;

/**
 * The WGL search over one key. The search state `st` encodes the register value id and a flag
 * telling that the last linearized op was an indeterminate write/cas: `st = value * 2 + flag`.
 * Such an op may only be followed by an op that observes its value (a read or a cas), never by
 * a write: a linearization where an indeterminate op is directly overwritten stays valid
 * without it, so those orders need not be explored.
 */
class Search {
  steps = 0;
  maxDepth = 0;
  depth = 0;
  st = 0;
  readonly stackEntry: Int32Array;
  private readonly e: Entries;
  private readonly bits: Uint32Array;
  private readonly zob: Int32Array;
  private readonly cache = new Map<number, CacheEntry[]>();
  private readonly stackSt: Int32Array;
  private readonly stackLow: Int32Array;
  private readonly stackHigh: Int32Array;
  private readonly stackForced: Uint8Array;
  /** First op not linearized, and last op linearized (-1 if none). */
  private low = 0;
  private high = -1;
  private hash = 0;
  private remaining: number;

  constructor(
    private readonly p: Prepared,
    private readonly maxSteps: number,
    private readonly deadline: number,
  ) {
    const n = p.ops.length;
    this.e = buildEntries(p);
    this.bits = new Uint32Array((n + 31) >>> 5);
    this.zob = zobrist(n);
    this.stackEntry = new Int32Array(n);
    this.stackSt = new Int32Array(n);
    this.stackLow = new Int32Array(n);
    this.stackHigh = new Int32Array(n);
    this.stackForced = new Uint8Array(n);
    this.st = p.initial * 2;
    this.remaining = p.required;
  }

  /**
   * Searches for a linearization; with `stopAt` >= 0, stops once that many ops linearize.
   * `cur` is a list entry, or NODE_START (just reached a new node) or EXHAUSTED (no child of
   * the current node is left to try).
   */
  run(stopAt = -1): Outcome {
    const { next, isCall } = this.e;
    if (stopAt === 0) return 'stopped';
    if (this.remaining === 0) return 'ok';
    let cur = NODE_START;
    for (;;) {
      this.steps++;
      const overTime = (this.steps & CLOCK_MASK) === 0 && performance.now() > this.deadline;
      if (this.steps > this.maxSteps || overTime) return 'unknown';
      let pushed = false;
      if (cur === NODE_START) {
        const read = this.legalRead();
        if (read < 0) cur = next[0];
        else if ((pushed = this.tryLinearize(read, 1)) === false) cur = EXHAUSTED;
      } else if (cur === EXHAUSTED || isCall[cur] === 0) {
        if (this.depth === 0) return 'fail';
        cur = this.backtrack();
      } else if ((pushed = this.tryLinearize(cur, 0)) === false) cur = next[cur];
      if (pushed) {
        if (this.depth === stopAt) return 'stopped';
        if (this.remaining === 0) return 'ok';
        cur = NODE_START;
      }
    }
  }

  /**
   * A candidate read that returns the current value, or -1. Linearizing it next is always safe
   * (if any linearization extends the current prefix, one starts with that read), so it is the
   * node's only child: reads never branch.
   */
  private legalRead(): number {
    const { next, isCall, op } = this.e;
    const { kind, a } = this.p;
    const value = this.st >> 1;
    for (let cur = next[0]; isCall[cur] === 1; cur = next[cur]) {
      if (kind[op[cur]] === READ && a[op[cur]] === value) return cur;
    }
    return -1;
  }

  private tryLinearize(entry: number, forced: number): boolean {
    const op = this.e.op[entry];
    const { kind, a, b, info } = this.p;
    const value = this.st >> 1;
    let nv: number;
    if (kind[op] === WRITE) {
      if ((this.st & 1) === 1) return false;
      nv = a[op];
    } else if (value !== a[op]) return false;
    else nv = kind[op] === CAS ? b[op] : value;
    const nst = nv * 2 + info[op];
    const d = this.depth;
    this.stackLow[d] = this.low;
    this.stackHigh[d] = this.high;
    this.toggle(op);
    if (op > this.high) this.high = op;
    if (op === this.low) this.low = this.firstUnset(op + 1);
    if (!this.remember(nst)) {
      this.toggle(op);
      this.low = this.stackLow[d];
      this.high = this.stackHigh[d];
      return false;
    }
    this.stackEntry[d] = entry;
    this.stackSt[d] = this.st;
    this.stackForced[d] = forced;
    this.depth = d + 1;
    if (this.depth > this.maxDepth) this.maxDepth = this.depth;
    this.st = nst;
    this.lift(entry, op);
    if (info[op] === 0) this.remaining--;
    return true;
  }

  /** Pops the last linearized op; returns the entry to continue from. */
  private backtrack(): number {
    const d = --this.depth;
    const entry = this.stackEntry[d];
    const op = this.e.op[entry];
    this.st = this.stackSt[d];
    this.low = this.stackLow[d];
    this.high = this.stackHigh[d];
    this.toggle(op);
    this.unlift(entry, op);
    if (this.p.info[op] === 0) this.remaining++;
    return this.stackForced[d] === 1 ? EXHAUSTED : this.e.next[entry];
  }

  private toggle(op: number): void {
    this.bits[op >>> 5] ^= 1 << (op & 31);
    this.hash ^= this.zob[op];
  }

  /** The first op index >= i that is not linearized (skipping full words). */
  private firstUnset(i: number): number {
    const n = this.p.ops.length;
    while (i < n) {
      const w = this.bits[i >>> 5];
      if ((i & 31) === 0 && w === 0xffffffff) i += 32;
      else if ((w & (1 << (i & 31))) !== 0) i++;
      else return i;
    }
    return n;
  }

  /** Adds (linearized set, st) to the cache; false if it was already there. */
  private remember(st: number): boolean {
    const lo = this.low >>> 5;
    const hi = this.high < 0 ? lo : Math.max(lo, this.high >>> 5);
    const view = this.bits.subarray(lo, hi + 1);
    const key = (this.hash ^ Math.imul(st + 1, 0x9e3779b1)) | 0;
    const bucket = this.cache.get(key);
    if (bucket !== undefined) {
      for (const c of bucket) {
        if (c.st === st && c.lo === lo && sameBits(c.words, view)) return false;
      }
    }
    const fresh = { lo, words: view.slice(), st };
    if (bucket === undefined) this.cache.set(key, [fresh]);
    else bucket.push(fresh);
    return true;
  }

  private lift(entry: number, op: number): void {
    const { next, prev, ret } = this.e;
    next[prev[entry]] = next[entry];
    prev[next[entry]] = prev[entry];
    const r = ret[op];
    if (r >= 0) {
      next[prev[r]] = next[r];
      prev[next[r]] = prev[r];
    }
  }

  private unlift(entry: number, op: number): void {
    const { next, prev, ret } = this.e;
    const r = ret[op];
    if (r >= 0) {
      next[prev[r]] = r;
      prev[next[r]] = r;
    }
    next[prev[entry]] = entry;
    prev[next[entry]] = entry;
  }

  /** Op indices of the current partial linearization, in order. */
  prefix(): Int32Array {
    return this.stackEntry.slice(0, this.depth).map((entry) => this.e.op[entry]);
  }
}

function sameBits(x: Uint32Array, y: Uint32Array): boolean {
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** Ops that could be linearized right after `prefix`: invoked before any pending op returned. */
function candidatesAfter(p: Prepared, prefix: Int32Array): Operation[] {
  const done = new Uint8Array(p.ops.length);
  for (const i of prefix) done[i] = 1;
  let minRet = Infinity;
  p.ops.forEach((o, i) => {
    if (done[i] === 0 && o.completeSeq !== null) minRet = Math.min(minRet, o.completeSeq);
  });
  return p.ops.filter((o, i) => done[i] === 0 && o.invokeSeq < minRet);
}

/** The register value after applying `ops` in order, starting from null. */
function valueAfter(ops: readonly Operation[]): Value {
  let value: Value = null;
  for (const op of ops) {
    if (op.f === 'write') value = op.input as Value;
    else if (op.f === 'cas') value = (op.input as CasArgs)[1];
  }
  return value;
}

function failureReason(p: Prepared, prefix: Int32Array, value: Value, stuck: Operation[]): string {
  const shown = stuck.slice(0, MAX_OPS_IN_REASON).map(describeOp).join('; ');
  const more = stuck.length > MAX_OPS_IN_REASON ? '; ...' : '';
  return (
    `not linearizable: at best ${prefix.length} of ${p.ops.length} ops linearize, leaving ` +
    `${formatValue(value)}; none of the ${stuck.length} op(s) that could come next can take ` +
    `effect: ${shown}${more}`
  );
}

type Anomaly = ReturnType<typeof precheck>;

/**
 * Builds the result for an invalid key. The search only tracks the maximum depth; a replay of
 * the (deterministic) search, bounded by the first run's steps, recovers a partial
 * linearization of that length.
 */
function failure(p: Prepared, first: Search, anomaly: Anomaly): Omit<KeyResult, 'elapsedMs'> {
  const replay = new Search(p, first.steps, Infinity);
  replay.run(first.maxDepth);
  const prefix = replay.prefix();
  const value = valueAfter(Array.from(prefix, (i) => p.ops[i]));
  const stuck = anomaly?.ops ?? candidatesAfter(p, prefix);
  return {
    key: p.ops[0].key,
    valid: false,
    opCount: 0,
    steps: first.steps,
    reason: anomaly?.reason ?? failureReason(p, prefix, value, stuck),
    longestLinearizedPrefix: Array.from(prefix, (i) => p.ops[i]),
    stuckOps: stuck,
    stateAfterPrefix: value,
  };
}

/**
 * checkKeySync checks, in the calling thread, that the operations of ONE key (as produced by
 * pairHistory) are linearizable with respect to a register whose initial value is null.
 * Options bound the search; when a bound is hit the result is `valid: "unknown"`.
 */
export function checkKeySync(ops: readonly Operation[], opts: CheckOptions = {}): KeyResult {
  const started = performance.now();
  const key = ops.length > 0 ? ops[0].key : '';
  if (ops.some((op) => op.key !== key)) {
    throw new Error('checkKeySync: all operations must be on the same key');
  }
  const anomaly = precheck(ops);
  const limitMs = opts.timeLimitMsPerKey ?? Infinity;
  let maxSteps = opts.maxStepsPerKey ?? Infinity;
  if (anomaly !== null) maxSteps = Math.min(maxSteps, PRECHECK_SEARCH_STEPS);
  const p = prepare(ops);
  const search = new Search(p, maxSteps, started + limitMs);
  const outcome = search.run();
  const elapsedMs = (): number => performance.now() - started;
  const base = { key, opCount: ops.length, steps: search.steps };
  if (outcome === 'ok' && anomaly === null) return { ...base, valid: true, elapsedMs: elapsedMs() };
  if (outcome === 'unknown' && anomaly === null) {
    const why =
      search.steps > maxSteps
        ? `step budget of ${maxSteps} exhausted`
        : `time limit of ${limitMs} ms exceeded after ${search.steps} steps`;
    return { ...base, valid: 'unknown', reason: `search gave up: ${why}`, elapsedMs: elapsedMs() };
  }
  return { ...failure(p, search, anomaly), ...base, elapsedMs: elapsedMs() };
}
