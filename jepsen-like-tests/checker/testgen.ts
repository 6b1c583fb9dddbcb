/**
 * Test helpers (not part of the public API): a simulated atomic register driven by a seeded
 * PRNG that emits histories with random concurrent interleavings, plus a brute-force checker.
 */
import type { CasArgs, HistoryEvent, Operation, Value } from './types.js';

/** mulberry32 returns a deterministic PRNG in [0, 1) for a 32-bit seed. */
export function mulberry32(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** SimOptions shapes a simulated history. */
export interface SimOptions {
  seed: number;
  ops: number;
  processes: number;
  keys: number;
  /** Probability that a completion is reported as `info` (default 0.05). */
  infoRate?: number;
  /** Probability that an unapplied op crashes (`info`, never applied) (default 0.02). */
  crashRate?: number;
  /** Key name prefix (default "k"). */
  keyPrefix?: string;
  /** Process id offset, so several simulated histories can be merged (default 0). */
  pidBase?: number;
}

interface Pending {
  f: 'read' | 'write' | 'cas';
  key: string;
  value: Value | CasArgs;
  applied: boolean;
  ok: boolean;
  output: Value;
}

interface Slot {
  pid: number;
  op: Pending | null;
}

/** The simulation state; each `step` performs one random action on one client slot. */
class Sim {
  readonly events: HistoryEvent[] = [];
  private readonly reg = new Map<string, Value>();
  private readonly written: Value[] = [null];
  private readonly slots: Slot[] = [];
  private nextPid: number;
  private invoked = 0;
  private counter = 0;

  constructor(
    private readonly o: SimOptions,
    private readonly rnd: () => number,
  ) {
    this.nextPid = o.pidBase ?? 0;
    for (let i = 0; i < o.processes; i++) this.slots.push({ pid: this.nextPid++, op: null });
  }

  get busy(): boolean {
    return this.invoked < this.o.ops || this.slots.some((s) => s.op !== null);
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rnd() * xs.length)];
  }

  private emit(s: Slot, type: HistoryEvent['type'], op: Pending, value: Value | CasArgs): void {
    const time = this.events.length;
    this.events.push({ process: s.pid, type, f: op.f, key: op.key, value, time });
  }

  private newOp(): Pending {
    const key = `${this.o.keyPrefix ?? 'k'}${Math.floor(this.rnd() * this.o.keys)}`;
    const fresh = (): Value => (this.rnd() < 0.5 ? `v${this.counter++}` : 1000 + this.counter++);
    const r = this.rnd();
    const base = { key, applied: false, ok: true, output: null };
    if (r < 0.45) return { ...base, f: 'read', value: null };
    if (r < 0.8) return { ...base, f: 'write', value: fresh() };
    const expected = this.rnd() < 0.6 ? (this.reg.get(key) ?? null) : this.pick(this.written);
    return { ...base, f: 'cas', value: [expected, fresh()] };
  }

  private apply(op: Pending): void {
    const cur = this.reg.get(op.key) ?? null;
    op.applied = true;
    if (op.f === 'read') op.output = cur;
    else if (op.f === 'write') this.set(op.key, op.value as Value);
    else if (cur === (op.value as CasArgs)[0]) this.set(op.key, (op.value as CasArgs)[1]);
    else op.ok = false;
  }

  private set(key: string, v: Value): void {
    this.reg.set(key, v);
    this.written.push(v);
  }

  private retire(s: Slot): void {
    s.pid = this.nextPid++;
    s.op = null;
  }

  step(): void {
    const s = this.pick(this.slots);
    const op = s.op;
    if (op === null) {
      if (this.invoked >= this.o.ops) return;
      this.invoked++;
      s.op = this.newOp();
      this.emit(s, 'invoke', s.op, s.op.value);
    } else if (!op.applied) {
      if (this.rnd() < (this.o.crashRate ?? 0.02)) {
        if (this.rnd() < 0.5) this.emit(s, 'info', op, op.value);
        this.retire(s);
      } else this.apply(op);
    } else if (this.rnd() < (this.o.infoRate ?? 0.05)) {
      if (this.rnd() < 0.7) this.emit(s, 'info', op, op.value);
      this.retire(s);
    } else {
      const type = op.ok ? 'ok' : 'fail';
      this.emit(s, type, op, op.f === 'read' ? op.output : op.value);
      s.op = null;
    }
  }
}

/**
 * simulateHistory runs random clients against an atomic (hence linearizable) register and
 * returns the event history; `time` equals the array index. Write/cas values are unique and
 * never null.
 */
export function simulateHistory(o: SimOptions): HistoryEvent[] {
  const sim = new Sim(o, mulberry32(o.seed));
  while (sim.busy) sim.step();
  return sim.events;
}

/** mergeHistories interleaves several histories randomly, renumbering `time`. */
export function mergeHistories(seed: number, parts: HistoryEvent[][]): HistoryEvent[] {
  const rnd = mulberry32(seed);
  const pos = parts.map(() => 0);
  const out: HistoryEvent[] = [];
  for (;;) {
    const live = parts.map((_, i) => i).filter((i) => pos[i] < parts[i].length);
    if (live.length === 0) return out;
    const i = live[Math.floor(rnd() * live.length)];
    out.push({ ...parts[i][pos[i]++], time: out.length });
  }
}

function legal(order: readonly Operation[]): boolean {
  let state: Value = null;
  for (const op of order) {
    if (op.f === 'read' && op.output !== state) return false;
    if (op.f === 'write') state = op.input as Value;
    if (op.f === 'cas') {
      const [expected, next] = op.input as CasArgs;
      if (state !== expected) return false;
      state = next;
    }
  }
  return true;
}

function permutations(ops: readonly Operation[], visit: (order: Operation[]) => boolean): boolean {
  const order: Operation[] = [];
  const used = new Array<boolean>(ops.length).fill(false);
  const rec = (): boolean => {
    if (order.length === ops.length) return visit(order);
    for (let i = 0; i < ops.length; i++) {
      if (used[i]) continue;
      used[i] = true;
      order.push(ops[i]);
      if (rec()) return true;
      order.pop();
      used[i] = false;
    }
    return false;
  };
  return rec();
}

/**
 * bruteForceLinearizable decides linearizability of one key's ops by enumerating every subset
 * of indeterminate ops and every permutation, checking real-time order and the register model
 * independently of the WGL implementation. Only for tiny histories.
 */
export function bruteForceLinearizable(ops: readonly Operation[]): boolean {
  const required = ops.filter((o) => o.status === 'ok');
  const info = ops.filter((o) => o.status === 'info');
  const ret = (o: Operation): number => o.completeSeq ?? Infinity;
  const realTimeOk = (order: Operation[]): boolean =>
    order.every((b, j) => order.slice(j + 1).every((a) => !(ret(a) < b.invokeSeq)));
  for (let mask = 0; mask < 1 << info.length; mask++) {
    const chosen = required.concat(info.filter((_, i) => (mask >> i) & 1));
    if (permutations(chosen, (order) => realTimeOk(order) && legal(order))) return true;
  }
  return false;
}
