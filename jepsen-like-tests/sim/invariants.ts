/**
 * The Raft safety properties, checked by the simulator after every event. Each check throws a
 * PropertyViolation naming the property and the numbers involved. The checker sees what an
 * omniscient observer would: every replica's status, every persisted log, every applied entry
 * and every message sent. It keeps its records for the whole run (across crashes).
 *
 * Commit index: the in-memory commit never decreases within one life of a replica, and the
 * persisted commit never decreases across lives. The in-memory commit may go back at a restart
 * (to the persisted one): commit is volatile knowledge that any replica can relearn, so Raft
 * does not require it to survive a crash. The term is checked the same way, and a restarted
 * replica must come back with exactly its persisted term.
 */
import {
  EntryType,
  MessageType,
  Role,
  type Entry,
  type MemoryStorage,
  type Message,
  type RaftStatus,
  type Ready,
  type Snapshot,
} from '../../src/raft/index.js';
import { hashBytes } from './kv.js';

/** PropertyViolation is a failed safety or liveness property; `property` names it. */
export class PropertyViolation extends Error {
  constructor(
    readonly property: string,
    detail: string,
    readonly atMs: number,
  ) {
    super(`${property} violated at t=${atMs}ms: ${detail}`);
    this.name = 'PropertyViolation';
  }
}

/** StorageView names a replica's durable storage for the cross-replica checks. */
export interface StorageView {
  id: number;
  storage: MemoryStorage;
}

/** ReadyContext is what the driver knew when it took a Ready (before persisting it). */
export interface ReadyContext {
  role: Role;
  term: number;
}

interface LeaderWatch {
  term: number;
  lastIndex: number;
  /** Highest index of the persisted log already checked against the committed record. */
  checkedUpTo: number;
  /** Highest index this leader's commit was recorded up to (from its persisted log). */
  recordedUpTo: number;
}

interface LifeState {
  life: number;
  term: number;
  commit: number;
  applied: number;
  leader: LeaderWatch | null;
}

interface AppliedRecord {
  term: number;
  hash: number;
}

/** entryHash identifies an entry's content (type and data). */
export function entryHash(entry: Entry): number {
  return hashBytes(entry.data, entry.type + 1);
}

/** SafetyChecker holds the run-wide records the properties are checked against. */
export class SafetyChecker {
  /** leaderByTerm: the one leader seen in each term (Election Safety). */
  readonly leaderByTerm = new Map<number, number>();
  /** Highest commit a leader reported while leading, per term (Leader Completeness). */
  private readonly leaderCommitByTerm = new Map<number, number>();
  /** Content of every applied entry by index (State Machine Safety). */
  private readonly appliedByIndex = new Map<number, AppliedRecord>();
  /** Term of every index known committed (applied entries and snapshot points). */
  private readonly committedTerm = new Map<number, number>([[1, 1]]);
  /** (index, term) -> content of every persisted entry. */
  private readonly persistedContent = new Map<number, Map<number, number>>();
  private readonly snapshotHashByIndex = new Map<number, number>();
  private readonly votes = new Map<string, number>();
  private readonly lives = new Map<number, LifeState>();
  private readonly durable = new Map<number, { term: number; commit: number }>();
  /** confChangesApplied counts distinct conf-change entries applied anywhere. */
  confChangesApplied = 0;

  constructor(private readonly now: () => number) {}

  private fail(property: string, detail: string): never {
    throw new PropertyViolation(property, detail, this.now());
  }

  /** observeStart records a replica (re)starting from its storage. */
  observeStart(id: number, life: number, status: RaftStatus, storage: MemoryStorage): void {
    const hard = storage.hardStateNow();
    const durable = this.durable.get(id);
    if (status.term !== hard.term) {
      this.fail(
        'Term Durability',
        `node ${id} restarted at term ${status.term}, ` + `persisted term ${hard.term}`,
      );
    }
    if (durable !== undefined && hard.term < durable.term) {
      this.fail(
        'Term Durability',
        `node ${id} persisted term went from ${durable.term} ` + `to ${hard.term}`,
      );
    }
    const applied = storage.snapshot().metadata.index;
    this.lives.set(id, { life, term: status.term, commit: status.commit, applied, leader: null });
  }

  /** observeStatus checks one replica's status after an event touched it. */
  observeStatus(id: number, status: RaftStatus, storage: MemoryStorage): void {
    const state = this.lives.get(id);
    if (state === undefined) return;
    if (status.term < state.term) {
      this.fail('Term Monotonicity', `node ${id} term went from ${state.term} to ${status.term}`);
    }
    if (status.commit < state.commit) {
      this.fail(
        'Commit Monotonicity',
        `node ${id} commit went from ${state.commit} to ${status.commit} (term ${status.term})`,
      );
    }
    state.term = status.term;
    state.commit = status.commit;
    if (status.role !== Role.Leader) {
      state.leader = null;
      return;
    }
    this.checkElectionSafety(id, status);
    if (state.leader === null || state.leader.term !== status.term) {
      state.leader = {
        term: status.term,
        lastIndex: status.lastIndex,
        checkedUpTo: 0,
        recordedUpTo: 0,
      };
    }
    this.checkLeaderAppendOnly(id, status, state.leader);
    this.checkLeaderCompleteness(id, status, storage, state.leader);
    this.recordLeaderCommit(id, status, storage, state.leader);
  }

  /**
   * recordLeaderCommit notes the term of every index the leader reports committed (as far as
   * its persisted log shows it); an index committed twice with different terms means a
   * committed entry was lost.
   */
  private recordLeaderCommit(
    id: number,
    status: RaftStatus,
    storage: MemoryStorage,
    watch: LeaderWatch,
  ): void {
    const high = Math.min(status.commit, storage.lastIndex());
    for (let i = Math.max(watch.recordedUpTo + 1, storage.firstIndex()); i <= high; i++) {
      const term = storage.term(i);
      const known = this.committedTerm.get(i);
      if (known === undefined) this.committedTerm.set(i, term);
      else if (known !== term) {
        this.fail(
          'Leader Completeness',
          `leader ${id} of term ${status.term} committed index ` +
            `${i} with term ${term}, but term ${known} was committed there before`,
        );
      }
      watch.recordedUpTo = i;
    }
  }

  private checkElectionSafety(id: number, status: RaftStatus): void {
    const known = this.leaderByTerm.get(status.term);
    if (known === undefined) this.leaderByTerm.set(status.term, id);
    else if (known !== id) {
      this.fail('Election Safety', `two leaders in term ${status.term}: nodes ${known} and ${id}`);
    }
    const commit = this.leaderCommitByTerm.get(status.term) ?? 0;
    if (status.commit > commit) {
      this.leaderCommitByTerm.set(status.term, status.commit);
    }
  }

  private checkLeaderAppendOnly(id: number, status: RaftStatus, watch: LeaderWatch): void {
    if (status.lastIndex < watch.lastIndex) {
      this.fail(
        'Leader Append-Only',
        `leader ${id} of term ${status.term} log shrank from ` +
          `last index ${watch.lastIndex} to ${status.lastIndex}`,
      );
    }
    watch.lastIndex = status.lastIndex;
  }

  /** requiredPrefix is the highest index committed by a leader of a term before `term`. */
  private requiredPrefix(term: number): { index: number; term: number } {
    let index = 0;
    let byTerm = 0;
    for (const [t, commit] of this.leaderCommitByTerm) {
      if (t < term && commit > index) {
        index = commit;
        byTerm = t;
      }
    }
    return { index, term: byTerm };
  }

  private checkLeaderCompleteness(
    id: number,
    status: RaftStatus,
    storage: MemoryStorage,
    watch: LeaderWatch,
  ): void {
    const required = this.requiredPrefix(status.term);
    if (status.lastIndex < required.index) {
      this.fail(
        'Leader Completeness',
        `leader ${id} of term ${status.term} has last index ` +
          `${status.lastIndex}, but index ${required.index} was committed in term ${required.term}`,
      );
    }
    const high = Math.min(required.index, storage.lastIndex());
    for (let i = Math.max(watch.checkedUpTo + 1, storage.firstIndex() - 1); i <= high; i++) {
      const committed = this.committedTerm.get(i);
      if (committed === undefined) break; // not applied anywhere yet: check later
      const term = storage.term(i);
      if (term !== committed) {
        this.fail(
          'Leader Completeness',
          `leader ${id} of term ${status.term} has term ${term} ` +
            `at index ${i}, committed with term ${committed} (earlier leaders committed up to ` +
            `${required.index})`,
        );
      }
      watch.checkedUpTo = i;
    }
  }

  /** observeSent checks a message as it leaves a replica (Vote Safety). */
  observeSent(message: Message): void {
    if (message.type !== MessageType.VoteResponse || message.reject) return;
    const key = `${message.from}:${message.term}`;
    const granted = this.votes.get(key);
    if (granted === undefined) this.votes.set(key, message.to);
    else if (granted !== message.to) {
      this.fail(
        'Vote Safety',
        `node ${message.from} granted its vote in term ${message.term} ` +
          `to both ${granted} and ${message.to}`,
      );
    }
  }

  /**
   * observePersist checks a Ready just written to `self.storage`: durable hard state
   * monotonicity, Leader Append-Only on disk, unique content per (index, term), and Log
   * Matching against every other replica's persisted log. `lastIndexBefore` is the storage's
   * last index before the write.
   */
  observePersist(
    self: StorageView,
    ready: Ready,
    context: ReadyContext,
    lastIndexBefore: number,
    others: Iterable<StorageView>,
  ): void {
    const id = self.id;
    if (ready.hardState !== null) this.checkDurableHardState(id, ready);
    if (context.role === Role.Leader && ready.entries.length > 0) {
      if (ready.entries[0].index <= lastIndexBefore || ready.snapshot !== null) {
        this.fail(
          'Leader Append-Only',
          `leader ${id} of term ${context.term} overwrote its ` +
            `log from index ${ready.entries[0].index} (last persisted ${lastIndexBefore})`,
        );
      }
    }
    for (const entry of ready.entries) this.checkPersistedContent(id, entry);
    for (const other of others) {
      if (other.id !== id) this.checkLogMatching(self, other);
    }
  }

  private checkDurableHardState(id: number, ready: Ready): void {
    const hard = ready.hardState;
    if (hard === null) return;
    const before = this.durable.get(id) ?? { term: 0, commit: 0 };
    if (hard.term < before.term) {
      this.fail('Term Monotonicity', `node ${id} persisted term ${hard.term} < ${before.term}`);
    }
    if (hard.commit < before.commit) {
      this.fail(
        'Commit Monotonicity',
        `node ${id} persisted commit ${hard.commit} < ${before.commit}`,
      );
    }
    this.durable.set(id, { term: hard.term, commit: hard.commit });
  }

  private checkPersistedContent(id: number, entry: Entry): void {
    let byTerm = this.persistedContent.get(entry.index);
    if (byTerm === undefined) {
      byTerm = new Map();
      this.persistedContent.set(entry.index, byTerm);
    }
    const hash = entryHash(entry);
    const known = byTerm.get(entry.term);
    if (known === undefined) byTerm.set(entry.term, hash);
    else if (known !== hash) {
      this.fail(
        'Log Matching',
        `node ${id} persisted a different entry at index ` +
          `${entry.index} term ${entry.term} than another replica`,
      );
    }
  }

  /** checkLogMatching: two persisted logs that agree at (i, t) agree on every index below i. */
  checkLogMatching(a: StorageView, b: StorageView): void {
    const low = Math.max(a.storage.firstIndex(), b.storage.firstIndex()) - 1;
    let index = Math.min(a.storage.lastIndex(), b.storage.lastIndex());
    while (index >= low && a.storage.term(index) !== b.storage.term(index)) index--;
    const top = index;
    for (; index >= low; index--) {
      const termA = a.storage.term(index);
      const termB = b.storage.term(index);
      if (termA !== termB) {
        this.fail(
          'Log Matching',
          `nodes ${a.id} and ${b.id} agree at index ${top} ` +
            `(term ${a.storage.term(top)}) but differ at index ${index}: terms ${termA} and ${termB}`,
        );
      }
    }
  }

  /** observeApply checks one applied entry (State Machine Safety, in-order application). */
  observeApply(id: number, entry: Entry): void {
    const state = this.lives.get(id);
    if (state !== undefined) {
      if (entry.index !== state.applied + 1) {
        this.fail(
          'State Machine Safety',
          `node ${id} applied index ${entry.index} after ` + `${state.applied}`,
        );
      }
      state.applied = entry.index;
    }
    const hash = entryHash(entry);
    const known = this.appliedByIndex.get(entry.index);
    if (known === undefined) {
      this.appliedByIndex.set(entry.index, { term: entry.term, hash });
      this.committedTerm.set(entry.index, entry.term);
      if (entry.type === EntryType.ConfChange) this.confChangesApplied++;
    } else if (known.term !== entry.term || known.hash !== hash) {
      this.fail(
        'State Machine Safety',
        `node ${id} applied entry (index ${entry.index}, term ` +
          `${entry.term}, hash ${hash}) but another replica applied (term ${known.term}, hash ` +
          `${known.hash}) there`,
      );
    }
  }

  /** observeSnapshotInstalled checks a snapshot a replica installs into its state machine. */
  observeSnapshotInstalled(id: number, snapshot: Snapshot): void {
    const { index, term } = snapshot.metadata;
    const state = this.lives.get(id);
    if (state !== undefined) {
      if (index <= state.applied) {
        this.fail(
          'State Machine Safety',
          `node ${id} installed snapshot ${index} over applied ` + `${state.applied}`,
        );
      }
      state.applied = index;
    }
    this.checkSnapshotPoint(id, index, term, snapshot.data);
  }

  /** observeSnapshotCreated checks a snapshot a replica takes of its own state machine. */
  observeSnapshotCreated(id: number, snapshot: Snapshot): void {
    const { index, term } = snapshot.metadata;
    this.checkSnapshotPoint(id, index, term, snapshot.data);
  }

  private checkSnapshotPoint(id: number, index: number, term: number, data: Uint8Array): void {
    const known = this.committedTerm.get(index);
    if (known === undefined) this.committedTerm.set(index, term);
    else if (known !== term) {
      this.fail(
        'State Machine Safety',
        `node ${id} has a snapshot at index ${index} term ` +
          `${term}, but term ${known} was committed there`,
      );
    }
    const hash = hashBytes(data);
    const knownHash = this.snapshotHashByIndex.get(index);
    if (knownHash === undefined) this.snapshotHashByIndex.set(index, hash);
    else if (knownHash !== hash) {
      this.fail(
        'State Machine Safety',
        `node ${id} has a different state-machine image at ` +
          `index ${index} than another replica`,
      );
    }
  }

  /** maxCommittedIndex is the highest index known committed (applied somewhere). */
  maxCommittedIndex(): number {
    let max = 0;
    for (const index of this.committedTerm.keys()) if (index > max) max = index;
    return max;
  }
}
