/**
 * RaftLog is the replica's log: the durable part in RaftStorage plus the unstable tail (entries
 * and possibly a snapshot) that a Ready hands to the driver to persist. It also tracks the
 * commit index and how far committed entries were handed out and applied.
 */
import { CompactedError, UnavailableError, assert } from './errors.js';
import type { RaftStorage } from './storage.js';
import { limitEntriesBySize } from './storage.js';
import type { Entry, Index, Snapshot, Term } from './types.js';

/**
 * Unstable holds what is not yet persisted. Invariant: entries[i].index === offset + i; when a
 * snapshot is present, offset === snapshot.metadata.index + 1.
 */
export class Unstable {
  snapshot: Snapshot | null = null;
  entries: Entry[] = [];
  offset: Index;

  constructor(offset: Index) {
    this.offset = offset;
  }

  maybeFirstIndex(): Index | null {
    return this.snapshot ? this.snapshot.metadata.index + 1 : null;
  }

  maybeLastIndex(): Index | null {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot ? this.snapshot.metadata.index : null;
  }

  maybeTerm(index: Index): Term | null {
    if (index < this.offset) {
      if (this.snapshot && this.snapshot.metadata.index === index)
        return this.snapshot.metadata.term;
      return null;
    }
    const last = this.maybeLastIndex();
    if (last === null || index > last) return null;
    return this.entries[index - this.offset].term;
  }

  /** stableTo drops entries up to `index` once persisted, if they were not replaced since. */
  stableTo(index: Index, term: Term): void {
    const current = this.maybeTerm(index);
    if (current === term && index >= this.offset) {
      this.entries = this.entries.slice(index + 1 - this.offset);
      this.offset = index + 1;
    }
  }

  stableSnapshotTo(index: Index): void {
    if (this.snapshot && this.snapshot.metadata.index === index) this.snapshot = null;
  }

  restore(snapshot: Snapshot): void {
    this.offset = snapshot.metadata.index + 1;
    this.entries = [];
    this.snapshot = snapshot;
  }

  /** truncateAndAppend appends `entries`, replacing any unstable suffix they conflict with. */
  truncateAndAppend(entries: readonly Entry[]): void {
    const after = entries[0].index;
    if (after === this.offset + this.entries.length) {
      for (const entry of entries) this.entries.push(entry);
    } else if (after <= this.offset) {
      // The new entries replace everything unstable (and the driver's append truncates storage).
      this.offset = after;
      this.entries = entries.slice();
    } else {
      this.entries = this.entries.slice(0, after - this.offset).concat(entries);
    }
  }

  slice(lo: Index, hi: Index): Entry[] {
    assert(
      lo >= this.offset && hi <= this.offset + this.entries.length && lo <= hi,
      () =>
        `unstable slice [${lo}, ${hi}) out of [${this.offset}, ${this.offset + this.entries.length})`,
    );
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}

/** RaftLog combines storage and unstable. Invariant: applied <= applying <= committed <= last. */
export class RaftLog {
  readonly unstable: Unstable;
  /** committed is the highest index known to be committed. */
  committed: Index;
  /** applying is the highest index handed to the driver to apply. */
  applying: Index;
  /** applied is the highest index the driver reported applied (through advance). */
  applied: Index;

  constructor(
    readonly storage: RaftStorage,
    applied: Index,
  ) {
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applied = first - 1;
    this.applying = first - 1;
    if (applied > this.applied) {
      this.applied = applied;
      this.applying = applied;
    }
  }

  firstIndex(): Index {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): Index {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** term returns the term at `index`, or null when it is compacted or beyond the log. */
  term(index: Index): Term | null {
    const dummy = this.firstIndex() - 1;
    if (index < dummy || index > this.lastIndex()) return null;
    const unstable = this.unstable.maybeTerm(index);
    if (unstable !== null) return unstable;
    try {
      return this.storage.term(index);
    } catch (error) {
      if (error instanceof CompactedError || error instanceof UnavailableError) return null;
      throw error;
    }
  }

  lastTerm(): Term {
    const term = this.term(this.lastIndex());
    assert(term !== null, () => `no term for last index ${this.lastIndex()}`);
    return term;
  }

  matchTerm(index: Index, term: Term): boolean {
    return this.term(index) === term;
  }

  /** isUpToDate: is a log ending at (index, term) at least as up to date as ours (§5.4.1)? */
  isUpToDate(index: Index, term: Term): boolean {
    const lastTerm = this.lastTerm();
    return term > lastTerm || (term === lastTerm && index >= this.lastIndex());
  }

  /**
   * maybeAppend appends the entries of an Append whose previous entry is (index, logTerm) if
   * that entry matches; returns the index of its last entry, or null on a mismatch.
   */
  maybeAppend(
    index: Index,
    logTerm: Term,
    committed: Index,
    entries: readonly Entry[],
  ): Index | null {
    if (!this.matchTerm(index, logTerm)) return null;
    const lastNew = index + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      assert(
        conflict > this.committed,
        () => `entry ${conflict} conflicts with committed entry (committed ${this.committed})`,
      );
      this.append(entries.slice(conflict - (index + 1)));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  /** append adds entries to the unstable tail; never removes committed entries. */
  append(entries: readonly Entry[]): Index {
    if (entries.length === 0) return this.lastIndex();
    const after = entries[0].index - 1;
    assert(
      after >= this.committed,
      () => `append after ${after} is below commit ${this.committed}`,
    );
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  /** findConflict returns the first entry's index whose term differs from ours, or 0. */
  findConflict(entries: readonly Entry[]): Index {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  /**
   * findConflictByTerm returns the largest index <= `index` whose term is <= `term` (or the
   * first index we can tell about), used for fast backtracking of a rejected Append.
   */
  findConflictByTerm(index: Index, term: Term): Index {
    let probe = Math.min(index, this.lastIndex());
    for (; probe > 0; probe--) {
      const current = this.term(probe);
      if (current === null || current <= term) break;
    }
    return probe;
  }

  commitTo(index: Index): void {
    if (index > this.committed) {
      assert(
        index <= this.lastIndex(),
        () => `commit ${index} beyond last index ${this.lastIndex()}`,
      );
      this.committed = index;
    }
  }

  /** maybeCommit commits `index` if its term is `term` (only the leader's own term counts). */
  maybeCommit(index: Index, term: Term): boolean {
    if (index > this.committed && this.term(index) === term) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  appliedTo(index: Index): void {
    if (index === 0) return;
    assert(
      index <= this.committed && index >= this.applied,
      () => `applied ${index} outside [${this.applied}, ${this.committed}]`,
    );
    this.applied = index;
    if (this.applying < index) this.applying = index;
  }

  hasNextCommittedEntries(): boolean {
    if (this.unstable.snapshot !== null) return false;
    return this.committed > Math.max(this.applying, this.firstIndex() - 1);
  }

  /** nextCommittedEntries hands out committed, not yet handed-out entries (up to maxBytes). */
  nextCommittedEntries(maxBytes: number): Entry[] {
    if (!this.hasNextCommittedEntries()) return [];
    const lo = Math.max(this.applying + 1, this.firstIndex());
    const entries = this.slice(lo, this.committed + 1, maxBytes);
    if (entries.length > 0) this.applying = entries[entries.length - 1].index;
    return entries;
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  /** entriesFrom returns entries [index, last] up to maxBytes, or null when compacted. */
  entriesFrom(index: Index, maxBytes: number): Entry[] | null {
    if (index > this.lastIndex()) return [];
    if (index < this.firstIndex()) return null;
    return this.slice(index, this.lastIndex() + 1, maxBytes);
  }

  /** slice returns [lo, hi) from storage and unstable, cut at maxBytes (at least one). */
  slice(lo: Index, hi: Index, maxBytes: number): Entry[] {
    assert(
      lo >= this.firstIndex() && hi <= this.lastIndex() + 1 && lo <= hi,
      () => `slice [${lo}, ${hi}) out of [${this.firstIndex()}, ${this.lastIndex() + 1})`,
    );
    if (lo === hi) return [];
    const unstableFrom = this.unstable.offset;
    let result: Entry[] = [];
    if (lo < unstableFrom) {
      result = this.storage.entries(lo, Math.min(hi, unstableFrom), maxBytes);
      if (result.length < Math.min(hi, unstableFrom) - lo) return result; // cut by size
    }
    if (hi > unstableFrom) {
      const tail = this.unstable.slice(Math.max(lo, unstableFrom), hi);
      result = result.length > 0 ? result.concat(tail) : tail;
    }
    return limitEntriesBySize(result, maxBytes);
  }

  /** restore replaces the log with a snapshot (the follower is behind it). */
  restore(snapshot: Snapshot): void {
    this.committed = snapshot.metadata.index;
    this.unstable.restore(snapshot);
  }

  /** unstableEntries returns the entries the next Ready must persist. */
  unstableEntries(): Entry[] {
    return this.unstable.entries.slice();
  }
}
