/**
 * The leader's view of each follower: how far its log matches, what to send next, and the flow
 * control that keeps a slow follower from being flooded (an in-flight window by count and bytes).
 */
import { assert } from './errors.js';
import type { Index } from './types.js';

/** ProgressState is how the leader currently replicates to one follower. */
export enum ProgressState {
  /** One Append at a time until the follower's match is found. */
  Probe = 0,
  /** Pipelined Appends within the in-flight window. */
  Replicate = 1,
  /** A snapshot is on its way; nothing else is sent until it is reported. */
  Snapshot = 2,
}

/** NO_INFLIGHTS is the shared, never written, window storage of an Inflights with none. */
const NO_INFLIGHTS: readonly number[] = Object.freeze([]);

/**
 * Inflights is a FIFO window of Append messages sent but not acknowledged, bounded by count and
 * bytes. Invariant: indexes are increasing; bytesInFlight is the sum of the entries' bytes.
 * Its two arrays are allocated by add() and dropped whenever the window empties: a node keeps a
 * progress per member of each of its groups, and an idle group has nothing in flight.
 */
export class Inflights {
  private indexes = NO_INFLIGHTS as Index[];
  private sizes = NO_INFLIGHTS as number[];
  private head = 0;
  private bytesInFlight = 0;

  constructor(
    private readonly countMax: number,
    private readonly bytesMax: number,
  ) {}

  /** add records an Append whose last entry is `index`, carrying `bytes` of entries. */
  add(index: Index, bytes: number): void {
    const count = this.count();
    assert(count < this.countMax, () => `inflights full: ${count} of ${this.countMax}`);
    assert(
      count === 0 || this.indexes[this.indexes.length - 1] < index,
      () => `inflight ${index} not increasing`,
    );
    if (this.indexes === NO_INFLIGHTS) {
      this.indexes = [];
      this.sizes = [];
    }
    this.indexes.push(index);
    this.sizes.push(bytes);
    this.bytesInFlight += bytes;
  }

  /** freeLE forgets every in-flight Append whose last index is <= index (acknowledged). */
  freeLE(index: Index): void {
    while (this.head < this.indexes.length && this.indexes[this.head] <= index) {
      this.bytesInFlight -= this.sizes[this.head];
      this.head++;
    }
    if (this.head > 0 && this.head === this.indexes.length) {
      // Window empty: give the arrays back (an idle group keeps none, whatever its history).
      this.indexes = NO_INFLIGHTS as Index[];
      this.sizes = NO_INFLIGHTS as number[];
      this.head = 0;
    } else if (this.head > 64 && this.head * 2 > this.indexes.length) {
      this.indexes.splice(0, this.head);
      this.sizes.splice(0, this.head);
      this.head = 0;
    }
  }

  /** freeFirstOne forgets the oldest in-flight Append (presumed lost; see the heartbeat path). */
  freeFirstOne(): void {
    if (this.count() > 0) this.freeLE(this.indexes[this.head]);
  }

  /** full tells whether no further Append may be sent. */
  full(): boolean {
    return this.count() >= this.countMax || this.bytesInFlight >= this.bytesMax;
  }

  /** count is the number of Appends in flight. */
  count(): number {
    return this.indexes.length - this.head;
  }

  /** reset empties the window. */
  reset(): void {
    this.indexes = NO_INFLIGHTS as Index[];
    this.sizes = NO_INFLIGHTS as number[];
    this.head = 0;
    this.bytesInFlight = 0;
  }
}

/**
 * Progress is the leader's record of one replica. Invariants: match < next; in Snapshot state
 * pendingSnapshot > 0.
 */
export class Progress {
  /** match is the highest index known to be replicated on the follower. */
  match: Index;
  /** next is the index of the next entry to send. */
  next: Index;
  state = ProgressState.Probe;
  /** pendingSnapshot is the index of the snapshot in flight (Snapshot state only). */
  pendingSnapshot: Index = 0;
  /** recentActive: heard from since the last CheckQuorum round. */
  recentActive = false;
  /** snapshotElapsed counts ticks spent in Snapshot state. */
  snapshotElapsed = 0;
  /** probeSent: in Probe state, an Append is outstanding (wait for its answer or a beat). */
  probeSent = false;
  readonly inflights: Inflights;

  constructor(
    match: Index,
    next: Index,
    public isLearner: boolean,
    inflightCountMax: number,
    inflightBytesMax: number,
  ) {
    this.match = match;
    this.next = next;
    this.inflights = new Inflights(inflightCountMax, inflightBytesMax);
  }

  /** becomeProbe restarts probing from just after match (or after a snapshot sent). */
  becomeProbe(): void {
    if (this.state === ProgressState.Snapshot) {
      const pending = this.pendingSnapshot;
      this.resetState(ProgressState.Probe);
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState(ProgressState.Probe);
      this.next = this.match + 1;
    }
  }

  /** becomeReplicate starts pipelining after match. */
  becomeReplicate(): void {
    this.resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  /** becomeSnapshot marks a snapshot at `index` as in flight. */
  becomeSnapshot(index: Index): void {
    this.resetState(ProgressState.Snapshot);
    this.pendingSnapshot = index;
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotElapsed = 0;
    this.state = state;
    this.inflights.reset();
  }

  /** maybeUpdate records an acknowledgement up to `index`; true when match moved. */
  maybeUpdate(index: Index): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * maybeDecrTo handles a rejected Append that probed `rejected`; `hint` is the highest index
   * that may match. Returns false when the rejection is stale (already superseded).
   */
  maybeDecrTo(rejected: Index, hint: Index): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** isPaused tells whether the leader must hold further Appends to this replica. */
  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.probeSent;
      case ProgressState.Replicate:
        return this.inflights.full();
      case ProgressState.Snapshot:
        return true;
    }
  }

  /** sentEntries updates next and the window after an Append of `count` entries was sent. */
  sentEntries(count: number, bytes: number): void {
    if (this.state === ProgressState.Replicate) {
      if (count > 0) {
        this.next += count;
        this.inflights.add(this.next - 1, bytes);
      }
    } else if (this.state === ProgressState.Probe) {
      this.probeSent = true;
    }
  }
}
