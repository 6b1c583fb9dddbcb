/**
 * The discrete-event queue of the simulator: actions keyed by integer simulated milliseconds,
 * run in (time, insertion order) order, so equal-time events keep a deterministic order.
 */

/** SimAction is one scheduled piece of work; it reads the clock from the scheduler. */
export type SimAction = () => void;

interface Slot {
  atMs: number;
  seq: number;
  action: SimAction;
}

/**
 * Scheduler is a binary min-heap of actions. Invariant: `nowMs` never decreases; an action is
 * never scheduled in the past (it is clamped to `nowMs`).
 */
export class Scheduler {
  private readonly heap: Slot[] = [];
  private seq = 0;
  /** nowMs is the simulated clock: the time of the action being run (or last run). */
  nowMs = 0;
  /** actionsRun counts the actions run so far (the simulator's "events"). */
  actionsRun = 0;

  /** at schedules `action` at absolute time `atMs` (clamped to now). */
  at(atMs: number, action: SimAction): void {
    const slot: Slot = { atMs: Math.max(Math.trunc(atMs), this.nowMs), seq: this.seq++, action };
    this.heap.push(slot);
    this.siftUp(this.heap.length - 1);
  }

  /** after schedules `action` `delayMs` from now. */
  after(delayMs: number, action: SimAction): void {
    this.at(this.nowMs + delayMs, action);
  }

  /** size is the number of pending actions. */
  get size(): number {
    return this.heap.length;
  }

  /** peekMs is the time of the next action, or Infinity when none is pending. */
  peekMs(): number {
    return this.heap.length === 0 ? Infinity : this.heap[0].atMs;
  }

  /** runNext pops and runs the earliest action; returns false when none is pending. */
  runNext(): boolean {
    const slot = this.pop();
    if (slot === undefined) return false;
    this.nowMs = slot.atMs;
    this.actionsRun++;
    slot.action();
    return true;
  }

  private pop(): Slot | undefined {
    const heap = this.heap;
    if (heap.length === 0) return undefined;
    const top = heap[0];
    const last = heap.pop() as Slot;
    if (heap.length > 0) {
      heap[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  private less(a: Slot, b: Slot): boolean {
    return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
  }

  private siftUp(index: number): void {
    const heap = this.heap;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!this.less(heap[index], heap[parent])) break;
      [heap[index], heap[parent]] = [heap[parent], heap[index]];
      index = parent;
    }
  }

  private siftDown(index: number): void {
    const heap = this.heap;
    for (;;) {
      const left = 2 * index + 1;
      const right = left + 1;
      let smallest = index;
      if (left < heap.length && this.less(heap[left], heap[smallest])) smallest = left;
      if (right < heap.length && this.less(heap[right], heap[smallest])) smallest = right;
      if (smallest === index) return;
      [heap[index], heap[smallest]] = [heap[smallest], heap[index]];
      index = smallest;
    }
  }
}
