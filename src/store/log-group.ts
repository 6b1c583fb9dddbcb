/**
 * GroupLogStorage: one Raft group's log, hard state, snapshot metadata and membership, as seen
 * by the synchronous Raft core, backed by the node's shared LogDb (log-storage.ts).
 *
 * Reads are answered from memory; every write updates memory at once and stages the matching
 * LevelDB puts and deletes with the LogDb, which makes them durable in the next `sync()`.
 * Observable behaviour is MemoryStorage's (src/raft/storage.ts) for every sequence of calls
 * that does not fail an assertion; the property test in log-storage.test.ts checks exactly that.
 */
import {
  CompactedError,
  SnapshotOutOfDateError,
  UnavailableError,
  assert,
} from '../raft/errors.js';
import {
  cloneConf,
  limitEntriesBySize,
  type InitialState,
  type RaftLogWriter,
  type RaftStorage,
} from '../raft/storage.js';
import {
  EMPTY_BYTES,
  NONE,
  type ConfState,
  type Entry,
  type GroupId,
  type HardState,
  type Index,
  type Snapshot,
  type SnapshotMetadata,
  type Term,
} from '../raft/types.js';
import {
  TAG_CONF,
  TAG_HARD_STATE,
  TAG_LOG_START,
  TAG_SNAPSHOT,
  encodeConfRecord,
  encodeEntry,
  encodeHardState,
  encodeLogStart,
  encodeSnapshotMetadata,
  entryKey,
  metaKey,
  type ConfRecord,
  type LogStart,
} from './log-codec.js';

/** LogStager receives the disk writes a GroupLogStorage stages (implemented by LogDb). */
export interface LogStager {
  put(key: Uint8Array, value: Uint8Array): void;
  del(key: Uint8Array): void;
}

/** GroupLogState is a group's persisted state as loaded from disk (or empty for a new group). */
export interface GroupLogState {
  hardState: HardState;
  snapshot: SnapshotMetadata;
  conf: ConfRecord;
  logStart: LogStart;
  /** Entries logStart.index + 1 .. last, contiguous. */
  entries: Entry[];
}

/** emptyGroupLogState is the state of a group that has never written anything. */
export function emptyGroupLogState(): GroupLogState {
  return {
    hardState: { term: 0, vote: NONE, commit: 0 },
    snapshot: { index: 0, term: 0, confState: { voters: [], learners: [] } },
    conf: { appliedIndex: 0, confState: { voters: [], learners: [] } },
    logStart: { index: 0, term: 0 },
    entries: [],
  };
}

/**
 * GroupLogStorage implements the Raft storage contract for one group of a LogDb.
 *
 * Memory bound: it holds the log tail since the last compaction (entries after the compaction
 * point), plus a few small records. The node compacts each group's log by entry count and bytes
 * once entries are applied and covered by a snapshot, so this stays bounded per group.
 *
 * Durability: writes are visible to reads at once but durable only after `LogDb.sync()`
 * resolves. The driver must not send messages that depend on a write (votes, append acks)
 * before that, which is the Ready contract. If a sync fails for real (not an injected test
 * fault), memory is ahead of disk and the node must stop and restart from disk.
 *
 * Snapshot data is out of band for store nodes: only metadata is kept, and snapshot() always
 * returns empty data.
 */
export class GroupLogStorage implements RaftStorage, RaftLogWriter {
  /** groupId is the group whose records this storage reads and writes. */
  readonly groupId: GroupId;
  private readonly stager: LogStager;
  // The metadata keys are built at each write, not kept: 5 bytes each, but a typed array and its
  // buffer cost ~190 bytes of heap apiece, four per group, and the writes are rare.
  private hardState: HardState;
  /** Invariant: snap.data is empty (out of band); metadata is what was last persisted. */
  private snap: Snapshot;
  /** Invariant: conf.appliedIndex never decreases. */
  private conf: ConfRecord;
  /**
   * Invariant: log[0] is a dummy carrying the compaction point (index, term);
   * log[i].index === log[0].index + i; terms never decrease along the log.
   */
  private log: Entry[];

  /** The constructor is for LogDb: it wires the group to the LogDb's pending batch. */
  constructor(groupId: GroupId, state: GroupLogState, stager: LogStager) {
    this.groupId = groupId;
    this.stager = stager;
    this.hardState = { ...state.hardState };
    this.snap = { metadata: copyMetadata(state.snapshot), data: EMPTY_BYTES };
    this.conf = {
      appliedIndex: state.conf.appliedIndex,
      confState: cloneConf(state.conf.confState),
    };
    this.log = [dummyEntry(state.logStart.index, state.logStart.term), ...state.entries];
  }

  /** initialState returns the hard state and the membership as of the applied index. */
  initialState(): InitialState {
    return { hardState: { ...this.hardState }, confState: cloneConf(this.conf.confState) };
  }

  /** firstIndex is the first index still in the log (compaction point + 1). */
  firstIndex(): Index {
    return this.log[0].index + 1;
  }

  /** lastIndex is the index of the last entry (firstIndex() - 1 when the log is empty). */
  lastIndex(): Index {
    return this.log[0].index + this.log.length - 1;
  }

  /** term returns the term of entry `index`, for index in [firstIndex() - 1, lastIndex()]. */
  term(index: Index): Term {
    const offset = this.log[0].index;
    if (index < offset) throw new CompactedError(index, offset + 1);
    if (index > this.lastIndex()) throw new UnavailableError(index, this.lastIndex());
    return this.log[index - offset].term;
  }

  /** entries returns entries [lo, hi) cut at maxBytes (at least one), as RaftStorage says. */
  entries(lo: Index, hi: Index, maxBytes: number): Entry[] {
    const offset = this.log[0].index;
    if (lo <= offset) throw new CompactedError(lo, offset + 1);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1, this.lastIndex());
    assert(lo <= hi, () => `entries: lo ${lo} > hi ${hi}`);
    return limitEntriesBySize(this.log.slice(lo - offset, hi - offset), maxBytes);
  }

  /** snapshot returns the latest snapshot's metadata, with empty data (out of band). */
  snapshot(): Snapshot {
    return this.snap;
  }

  /** hardStateNow returns the current hard state (for tests and the driver's checks). */
  hardStateNow(): HardState {
    return { ...this.hardState };
  }

  /** setHardState records term, vote and commit; none of them may go backwards. */
  setHardState(hardState: HardState): void {
    const old = this.hardState;
    const { term, vote, commit } = hardState;
    assertIndex('hard state term', term);
    assertIndex('hard state vote', vote);
    assertIndex('hard state commit', commit);
    assert(term >= old.term, () => `group ${this.groupId}: term ${term} < ${old.term}`);
    assert(
      term > old.term || old.vote === NONE || vote === old.vote,
      () => `group ${this.groupId}: vote changed ${old.vote} -> ${vote} in term ${term}`,
    );
    assert(commit >= old.commit, () => `group ${this.groupId}: commit ${commit} < ${old.commit}`);
    this.hardState = { term, vote, commit };
    const key = metaKey(TAG_HARD_STATE, this.groupId);
    this.stager.put(key, encodeHardState(key, this.hardState));
  }

  /** setConfState records the membership as of `appliedIndex` (never older than the last). */
  setConfState(confState: ConfState, appliedIndex: Index): void {
    assertIndex('applied index', appliedIndex);
    assert(
      appliedIndex >= this.conf.appliedIndex,
      () => `group ${this.groupId}: conf at ${appliedIndex} < recorded ${this.conf.appliedIndex}`,
    );
    this.recordConf(confState, appliedIndex);
  }

  /**
   * append writes entries, replacing any suffix of the log from entries[0].index on (the
   * MemoryStorage semantics). Entries at or below the compaction point are skipped. It asserts
   * the batch is contiguous and joins the log without a gap, and that no entry at or below the
   * commit index is removed or replaced by a different term.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    this.assertBatch(entries);
    const first = this.firstIndex();
    if (entries[0].index + entries.length - 1 < first) return; // all already compacted
    const kept = first > entries[0].index ? entries.slice(first - entries[0].index) : entries;
    const offset = kept[0].index - this.log[0].index;
    assert(
      offset <= this.log.length,
      () => `group ${this.groupId}: append gap: ${kept[0].index} after ${this.lastIndex()}`,
    );
    assert(
      kept[0].term >= this.log[offset - 1].term,
      () =>
        `group ${this.groupId}: entry ${kept[0].index} term ${kept[0].term} < ` +
        `term ${this.log[offset - 1].term} of entry ${kept[0].index - 1}`,
    );
    this.assertKeepsCommitted(kept);
    const oldLast = this.lastIndex();
    this.log.length = offset;
    for (const entry of kept) {
      const key = entryKey(this.groupId, entry.index);
      const value = encodeEntry(key, entry);
      this.stager.put(key, value);
      // Readers get a view into the encoded value: one copy of the bytes, memory == disk. An
      // empty entry (a new leader's no-op) gets the shared EMPTY_BYTES: a view would keep the
      // whole encoded value and its buffer alive for nothing.
      const size = entry.data.byteLength;
      const data = size === 0 ? EMPTY_BYTES : value.subarray(value.length - size);
      this.log.push({ term: entry.term, index: entry.index, type: entry.type, data });
    }
    this.deleteEntries(this.lastIndex() + 1, oldLast);
  }

  /**
   * applySnapshot installs snapshot metadata (the data is installed out of band). Entries after
   * it are kept if the log agrees with the snapshot at its index, else the whole log is dropped.
   */
  applySnapshot(snapshot: Snapshot): void {
    const { index, term } = snapshot.metadata;
    const current = this.snap.metadata.index;
    if (index < current) throw new SnapshotOutOfDateError(index, current);
    assertIndex('snapshot index', index);
    assertIndex('snapshot term', term);
    assertConfState(snapshot.metadata.confState);
    const offset = this.log[0].index;
    const last = this.lastIndex();
    if (index <= last && index >= offset && this.term(index) === term) {
      this.compactThrough(index, term);
    } else {
      const commit = this.hardState.commit;
      assert(
        Math.min(last, commit) <= index,
        () =>
          `group ${this.groupId}: snapshot ${index} (term ${term}) disagrees with the log ` +
          `and would drop committed entries ${index + 1}..${Math.min(last, commit)}`,
      );
      this.deleteEntries(offset + 1, last);
      this.log = [dummyEntry(index, term)];
      this.stageLogStart();
    }
    this.recordSnapshot(copyMetadata(snapshot.metadata));
    if (index >= this.conf.appliedIndex) this.recordConf(snapshot.metadata.confState, index);
  }

  /**
   * createSnapshot records that the applied state at `index` was snapshotted (its image is
   * kept out of band, so data is empty). The log is not compacted; call compact() for that.
   */
  createSnapshot(index: Index, confState: ConfState): Snapshot {
    if (index <= this.snap.metadata.index) {
      throw new SnapshotOutOfDateError(index, this.snap.metadata.index);
    }
    assert(index <= this.lastIndex(), () => `snapshot ${index} > last ${this.lastIndex()}`);
    const term = this.term(index);
    assertConfState(confState);
    this.recordSnapshot({ index, term, confState: cloneConf(confState) });
    if (index >= this.conf.appliedIndex) this.recordConf(confState, index);
    return this.snap;
  }

  /** compact discards entries up to and including `index`, which must be <= commit. */
  compact(index: Index): void {
    const offset = this.log[0].index;
    if (index <= offset) return;
    assert(index <= this.lastIndex(), () => `compact ${index} > last ${this.lastIndex()}`);
    assert(
      index <= this.hardState.commit,
      () => `group ${this.groupId}: compact ${index} > commit ${this.hardState.commit}`,
    );
    this.compactThrough(index, this.log[index - offset].term);
  }

  /** compactThrough moves the compaction point to (index, term), index in the log. */
  private compactThrough(index: Index, term: Term): void {
    const offset = this.log[0].index;
    this.deleteEntries(offset + 1, index);
    this.log.splice(0, index - offset + 1, dummyEntry(index, term));
    this.stageLogStart();
  }

  /**
   * stageDeleteAll stages the deletion of every record of the group (its replica was removed
   * from this node). The hard state goes last: a crash midway leaves a group that still loads.
   */
  stageDeleteAll(): void {
    this.deleteEntries(this.log[0].index + 1, this.lastIndex());
    this.stager.del(metaKey(TAG_CONF, this.groupId));
    this.stager.del(metaKey(TAG_SNAPSHOT, this.groupId));
    this.stager.del(metaKey(TAG_LOG_START, this.groupId));
    this.stager.del(metaKey(TAG_HARD_STATE, this.groupId));
  }

  private deleteEntries(from: Index, to: Index): void {
    for (let i = from; i <= to; i++) this.stager.del(entryKey(this.groupId, i));
  }

  private stageLogStart(): void {
    const start = { index: this.log[0].index, term: this.log[0].term };
    const key = metaKey(TAG_LOG_START, this.groupId);
    this.stager.put(key, encodeLogStart(key, start));
  }

  private recordSnapshot(metadata: SnapshotMetadata): void {
    this.snap = { metadata, data: EMPTY_BYTES };
    const key = metaKey(TAG_SNAPSHOT, this.groupId);
    this.stager.put(key, encodeSnapshotMetadata(key, metadata));
  }

  private recordConf(confState: ConfState, appliedIndex: Index): void {
    assertConfState(confState);
    this.conf = { confState: cloneConf(confState), appliedIndex };
    const key = metaKey(TAG_CONF, this.groupId);
    this.stager.put(key, encodeConfRecord(key, this.conf));
  }

  private assertBatch(entries: readonly Entry[]): void {
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      assertIndex('entry index', entry.index);
      assert(entry.index >= 1 && entry.term >= 1, () => `entry ${entry.index} term ${entry.term}`);
      if (i === 0) continue;
      assert(
        entry.index === entries[i - 1].index + 1 && entry.term >= entries[i - 1].term,
        () =>
          `group ${this.groupId}: append batch not contiguous: entry ${entry.index} ` +
          `(term ${entry.term}) after ${entries[i - 1].index} (term ${entries[i - 1].term})`,
      );
    }
  }

  /** assertKeepsCommitted: every existing entry <= commit survives the append unchanged. */
  private assertKeepsCommitted(kept: readonly Entry[]): void {
    const commit = this.hardState.commit;
    const start = kept[0].index;
    const newLast = start + kept.length - 1;
    const checkTo = Math.min(this.lastIndex(), commit);
    for (let i = start; i <= checkTo; i++) {
      assert(
        i <= newLast && this.log[i - this.log[0].index].term === kept[i - start].term,
        () =>
          `group ${this.groupId}: append ${start}..${newLast} would truncate committed ` +
          `entry ${i} (commit ${commit}, last ${this.lastIndex()})`,
      );
    }
  }
}

function dummyEntry(index: Index, term: Term): Entry {
  return { index, term, type: 0, data: EMPTY_BYTES };
}

function copyMetadata(metadata: SnapshotMetadata): SnapshotMetadata {
  return { index: metadata.index, term: metadata.term, confState: cloneConf(metadata.confState) };
}

function assertIndex(what: string, value: number): void {
  assert(
    Number.isSafeInteger(value) && value >= 0,
    () => `${what} ${value} is not an integer >= 0`,
  );
}

/** assertConfState checks the ConfState invariant: sorted, distinct, disjoint node ids. */
function assertConfState(conf: ConfState): void {
  const sorted = (ids: readonly number[]): boolean =>
    ids.every((id, i) => i === 0 || ids[i - 1] < id);
  assert(
    sorted(conf.voters) &&
      sorted(conf.learners) &&
      !conf.learners.some((id) => conf.voters.includes(id)),
    () => `conf state not sorted and disjoint: voters [${conf.voters}] learners [${conf.learners}]`,
  );
}
