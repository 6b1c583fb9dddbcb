/**
 * The storage contract between the Raft core and whatever keeps its log, and the in-memory
 * implementation used by the simulator and by unit tests.
 *
 * The core only reads storage (synchronously); the driver writes what each Ready hands it and
 * then calls advance(). A store node's implementation (src/store) keeps the log tail since the
 * last compaction in memory too, so reads stay synchronous, and persists through LevelDB.
 */
import { CompactedError, SnapshotOutOfDateError, UnavailableError, assert } from './errors.js';
import {
  EMPTY_BYTES,
  NONE,
  entryBytes,
  type ConfState,
  type Entry,
  type HardState,
  type Index,
  type Snapshot,
  type Term,
} from './types.js';

/** InitialState is what a replica restarts from. */
export interface InitialState {
  hardState: HardState;
  /** The membership as of the state machine's applied index (config.applied). */
  confState: ConfState;
}

/**
 * RaftStorage is the read side the core uses. Contract:
 * - firstIndex() = snapshot index + 1; lastIndex() >= firstIndex() - 1.
 * - term(i) answers for i in [firstIndex()-1, lastIndex()]; below that CompactedError, above
 *   it UnavailableError.
 * - entries(lo, hi, maxBytes) returns entries [lo, hi) in order, cut at maxBytes but always at
 *   least one entry when lo < hi; CompactedError when lo < firstIndex(), UnavailableError when
 *   hi > lastIndex() + 1.
 * - snapshot() returns the most recent snapshot (data may be empty for out-of-band images).
 * - Everything returned was durably persisted before it became visible here.
 */
export interface RaftStorage {
  initialState(): InitialState;
  entries(lo: Index, hi: Index, maxBytes: number): Entry[];
  term(index: Index): Term;
  firstIndex(): Index;
  lastIndex(): Index;
  snapshot(): Snapshot;
}

/**
 * RaftLogWriter is the write side the driver uses to persist a Ready. append() replaces any
 * suffix that conflicts with the new entries (entries[0].index may be <= lastIndex()+1).
 */
export interface RaftLogWriter {
  append(entries: readonly Entry[]): void;
  setHardState(hardState: HardState): void;
  applySnapshot(snapshot: Snapshot): void;
  /** compact discards entries up to and including `index` (which must be <= applied). */
  compact(index: Index): void;
}

/** emptyConfState returns a membership with no voters and no learners. */
export function emptyConfState(): ConfState {
  return { voters: [], learners: [] };
}

/** emptySnapshot returns the snapshot of a replica that has none (index 0, term 0). */
export function emptySnapshot(): Snapshot {
  return { metadata: { index: 0, term: 0, confState: emptyConfState() }, data: EMPTY_BYTES };
}

/** limitEntriesBySize cuts `entries` so their total entryBytes fit maxBytes (keeping >= 1). */
export function limitEntriesBySize(entries: Entry[], maxBytes: number): Entry[] {
  if (entries.length === 0) return entries;
  let total = entryBytes(entries[0]);
  let count = 1;
  while (count < entries.length) {
    total += entryBytes(entries[count]);
    if (total > maxBytes) break;
    count++;
  }
  return count === entries.length ? entries : entries.slice(0, count);
}

/**
 * MemoryStorage keeps everything in memory. Invariant: `log[0]` is a dummy entry carrying the
 * snapshot's index and term, so term(firstIndex()-1) is always answerable.
 */
export class MemoryStorage implements RaftStorage, RaftLogWriter {
  private hardState: HardState = { term: 0, vote: NONE, commit: 0 };
  private snap: Snapshot = emptySnapshot();
  private log: Entry[] = [dummyEntry(0, 0)];

  /** MemoryStorage.bootstrap makes the storage of a founding member: a snapshot at index 1. */
  static bootstrap(confState: ConfState, data: Uint8Array = EMPTY_BYTES): MemoryStorage {
    const storage = new MemoryStorage();
    storage.applySnapshot({ metadata: { index: 1, term: 1, confState }, data });
    storage.setHardState({ term: 1, vote: NONE, commit: 1 });
    return storage;
  }

  initialState(): InitialState {
    return { hardState: { ...this.hardState }, confState: cloneConf(this.snap.metadata.confState) };
  }

  firstIndex(): Index {
    return this.log[0].index + 1;
  }

  lastIndex(): Index {
    return this.log[0].index + this.log.length - 1;
  }

  term(index: Index): Term {
    const offset = this.log[0].index;
    if (index < offset) throw new CompactedError(index, offset + 1);
    if (index > this.lastIndex()) throw new UnavailableError(index, this.lastIndex());
    return this.log[index - offset].term;
  }

  entries(lo: Index, hi: Index, maxBytes: number): Entry[] {
    const offset = this.log[0].index;
    if (lo <= offset) throw new CompactedError(lo, offset + 1);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1, this.lastIndex());
    assert(lo <= hi, () => `entries: lo ${lo} > hi ${hi}`);
    return limitEntriesBySize(this.log.slice(lo - offset, hi - offset), maxBytes);
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  setHardState(hardState: HardState): void {
    this.hardState = { ...hardState };
  }

  /** hardStateNow returns the persisted hard state (for tests and the simulator's checks). */
  hardStateNow(): HardState {
    return { ...this.hardState };
  }

  applySnapshot(snapshot: Snapshot): void {
    const current = this.snap.metadata.index;
    if (snapshot.metadata.index < current) {
      throw new SnapshotOutOfDateError(snapshot.metadata.index, current);
    }
    this.snap = snapshot;
    const { index, term } = snapshot.metadata;
    // Keep entries after the snapshot if they agree with it (a follower may be ahead).
    if (index <= this.lastIndex() && index >= this.log[0].index && this.term(index) === term) {
      this.log = [dummyEntry(index, term), ...this.log.slice(index - this.log[0].index + 1)];
    } else {
      this.log = [dummyEntry(index, term)];
    }
  }

  /** createSnapshot records a snapshot of the applied state at `index` (<= lastIndex()). */
  createSnapshot(index: Index, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) {
      throw new SnapshotOutOfDateError(index, this.snap.metadata.index);
    }
    assert(index <= this.lastIndex(), () => `snapshot ${index} > last ${this.lastIndex()}`);
    const term = this.term(index);
    this.snap = { metadata: { index, term, confState: cloneConf(confState) }, data };
    return this.snap;
  }

  compact(index: Index): void {
    const offset = this.log[0].index;
    if (index <= offset) return;
    assert(index <= this.lastIndex(), () => `compact ${index} > last ${this.lastIndex()}`);
    const term = this.log[index - offset].term;
    this.log = [dummyEntry(index, term), ...this.log.slice(index - offset + 1)];
  }

  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0].index + entries.length - 1;
    if (last < first) return; // all already compacted
    const kept = first > entries[0].index ? entries.slice(first - entries[0].index) : entries;
    const offset = kept[0].index - this.log[0].index;
    assert(
      offset <= this.log.length,
      () => `append gap: ${kept[0].index} after ${this.lastIndex()}`,
    );
    assert(
      kept[0].index > this.hardState.commit ||
        this.log.length <= offset ||
        this.log[offset].term === kept[0].term,
      () =>
        `append would overwrite committed entry ${kept[0].index} (commit ${this.hardState.commit})`,
    );
    // Truncate a conflicting suffix, then append in place (no copy of the retained log).
    if (offset < this.log.length) this.log.length = offset;
    for (const entry of kept) this.log.push(entry);
  }

  /** clone copies the storage (the simulator's model of "what was synced" at a crash). */
  clone(): MemoryStorage {
    const copy = new MemoryStorage();
    copy.hardState = { ...this.hardState };
    copy.snap = this.snap;
    copy.log = this.log.slice();
    return copy;
  }
}

function dummyEntry(index: Index, term: Term): Entry {
  return { index, term, type: 0, data: EMPTY_BYTES };
}

/** cloneConf copies a ConfState (arrays are never shared between owners). */
export function cloneConf(conf: ConfState): ConfState {
  return { voters: conf.voters.slice(), learners: conf.learners.slice() };
}
