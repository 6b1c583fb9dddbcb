/**
 * RawNode is the public face of one replica: the driver feeds it ticks, peer messages and client
 * requests, and drains its work as Ready batches (persist, then send, then apply, then advance).
 * It is synchronous and deterministic; the same inputs in the same order give the same outputs.
 */
import { encodeConfChange } from './codec.js';
import type { RaftConfigInput } from './config.js';
import { Raft } from './raft.js';
import { ProgressState } from './progress.js';
import type { RaftStorage } from './storage.js';
import {
  Role,
  isEarlyMessage,
  isLocalMessage,
  type ConfChange,
  type ConfState,
  type GroupId,
  type Index,
  type Message,
  type NodeId,
  type Ready,
  type SoftState,
  type Term,
} from './types.js';

/** ReplicaProgress is the leader's view of one replica, as shown by status(). */
export interface ReplicaProgress {
  id: NodeId;
  match: Index;
  next: Index;
  state: 'probe' | 'replicate' | 'snapshot';
  isLearner: boolean;
}

/** RaftStatus is a snapshot of a replica's state for operators, tests and the simulator. */
export interface RaftStatus {
  id: NodeId;
  groupId: GroupId;
  term: Term;
  vote: NodeId;
  commit: Index;
  applied: Index;
  firstIndex: Index;
  lastIndex: Index;
  role: Role;
  leader: NodeId;
  confState: ConfState;
  droppedMessages: number;
  pendingReads: number;
  quiesced: boolean;
  /** Per-replica progress, at the leader only. */
  progress: ReplicaProgress[] | null;
}

const PROGRESS_STATE_NAMES = {
  [ProgressState.Probe]: 'probe',
  [ProgressState.Replicate]: 'replicate',
  [ProgressState.Snapshot]: 'snapshot',
} as const;

/** RawNode drives one Raft replica through Ready/advance cycles. */
export class RawNode {
  readonly id: NodeId;
  readonly groupId: GroupId;
  private readonly raft: Raft;
  /**
   * The soft and hard state as of the last Ready, as plain numbers: hasReady() runs for every
   * group of a node on every cycle and must not allocate to compare them.
   */
  private previousLeader: NodeId;
  private previousRole: Role;
  private previousTerm: Term;
  private previousVote: NodeId;
  private previousCommit: Index;

  constructor(config: RaftConfigInput, storage: RaftStorage) {
    this.raft = new Raft(config, storage);
    this.id = this.raft.id;
    this.groupId = this.raft.groupId;
    this.previousLeader = this.raft.leader;
    this.previousRole = this.raft.role;
    this.previousTerm = this.raft.term;
    this.previousVote = this.raft.vote;
    this.previousCommit = this.raft.log.committed;
  }

  /** tick advances logical time by one tick (elections, heartbeats, CheckQuorum). */
  tick(): void {
    this.raft.tick();
  }

  /** step hands the replica a peer message; local or invalid messages are dropped and counted. */
  step(message: Message): void {
    if (message === null || typeof message !== 'object' || isLocalMessage(message.type)) {
      this.raft.droppedMessages++;
      return;
    }
    this.raft.step(message);
  }

  /** wake takes the group out of quiescence (its leader's node went silent, or new work). */
  wake(): void {
    this.raft.wake();
  }

  /** isQuiesced tells whether the group sleeps (cheap: for drivers scanning many groups). */
  isQuiesced(): boolean {
    return this.raft.quiesced;
  }

  /** leaderId returns the leader this replica knows (cheap, unlike status()). */
  leaderId(): NodeId {
    return this.raft.leader;
  }

  /** campaign starts an election now (with a pre-vote round when PreVote is on). */
  campaign(): void {
    this.raft.hup(false);
  }

  /** propose appends `data`; throws NotLeaderError or ProposalDroppedError. */
  propose(data: Uint8Array): { index: Index; term: Term } {
    return this.raft.propose(data);
  }

  /** proposeConfChange proposes one membership change; same errors as propose. */
  proposeConfChange(change: ConfChange): { index: Index; term: Term } {
    return this.raft.proposeConfChange(change, encodeConfChange(change));
  }

  /**
   * readIndex asks for a linearizable read point; the answer is a ReadState with the same
   * context in a later Ready (serve the read once applied >= its index). Throws NotLeaderError
   * when no leader is known. A read whose leader changes is never answered: callers time out.
   */
  readIndex(context: Uint8Array): void {
    this.raft.readIndex({ from: this.id, context });
  }

  /** transferLeader asks the leader to hand leadership to `to`. */
  transferLeader(to: NodeId): void {
    this.raft.transferLeader(to);
  }

  /** reportUnreachable tells the leader a message to `to` could not be delivered. */
  reportUnreachable(to: NodeId): void {
    this.raft.reportUnreachable(to);
  }

  /** reportSnapshot tells the leader whether sending a snapshot to `to` succeeded. */
  reportSnapshot(to: NodeId, ok: boolean): void {
    this.raft.reportSnapshot(to, ok);
  }

  /** hasReady tells whether ready() would return any work. */
  hasReady(): boolean {
    const raft = this.raft;
    return (
      raft.hasPendingFlush() ||
      raft.messages.length > 0 ||
      raft.readStates.length > 0 ||
      raft.log.unstable.entries.length > 0 ||
      raft.log.unstable.snapshot !== null ||
      raft.log.hasNextCommittedEntries() ||
      this.softChanged() ||
      this.hardChanged()
    );
  }

  private softChanged(): boolean {
    return this.raft.leader !== this.previousLeader || this.raft.role !== this.previousRole;
  }

  private hardChanged(): boolean {
    const raft = this.raft;
    return (
      raft.term !== this.previousTerm ||
      raft.vote !== this.previousVote ||
      raft.log.committed !== this.previousCommit
    );
  }

  /** ready returns the next batch of work; call advance(ready) when it is done. */
  ready(): Ready {
    const raft = this.raft;
    raft.flushPending();
    const entries = raft.log.unstableEntries();
    const snapshot = raft.log.unstable.snapshot;
    const ready: Ready = {
      softState: this.softChanged() ? this.softState() : null,
      hardState: this.hardChanged() ? raft.hardState() : null,
      snapshot,
      entries,
      committedEntries: raft.log.nextCommittedEntries(raft.config.uncommittedBytesMax),
      earlyMessages: raft.messages.filter((m) => isEarlyMessage(m.type)),
      messages: raft.messages.filter((m) => !isEarlyMessage(m.type)),
      readStates: raft.readStates,
      mustSync:
        entries.length > 0 ||
        snapshot !== null ||
        raft.term !== this.previousTerm ||
        raft.vote !== this.previousVote,
    };
    raft.messages = [];
    raft.readStates = [];
    this.previousLeader = raft.leader;
    this.previousRole = raft.role;
    this.previousTerm = raft.term;
    this.previousVote = raft.vote;
    this.previousCommit = raft.log.committed;
    return ready;
  }

  /** advance reports that `ready` was persisted, sent and applied. */
  advance(ready: Ready): void {
    const log = this.raft.log;
    if (ready.snapshot) {
      log.unstable.stableSnapshotTo(ready.snapshot.metadata.index);
      log.appliedTo(ready.snapshot.metadata.index);
    }
    if (ready.entries.length > 0) {
      const last = ready.entries[ready.entries.length - 1];
      log.unstable.stableTo(last.index, last.term);
      this.raft.onPersisted(last.index, last.term);
    }
    if (ready.committedEntries.length > 0) {
      for (const entry of ready.committedEntries) this.raft.applyCommittedEntry(entry);
      log.appliedTo(ready.committedEntries[ready.committedEntries.length - 1].index);
    }
  }

  /** status reports the replica's state (cheap enough to call after every simulated step). */
  status(): RaftStatus {
    const raft = this.raft;
    const isLeader = raft.role === Role.Leader;
    return {
      id: raft.id,
      groupId: raft.groupId,
      term: raft.term,
      vote: raft.vote,
      commit: raft.log.committed,
      applied: raft.log.applied,
      firstIndex: raft.log.firstIndex(),
      lastIndex: raft.log.lastIndex(),
      role: raft.role,
      leader: raft.leader,
      confState: raft.tracker.confState(),
      droppedMessages: raft.droppedMessages,
      pendingReads: raft.pendingReadCount(),
      quiesced: raft.quiesced,
      progress: isLeader ? this.progressList() : null,
    };
  }

  /**
   * progressList lists the progress by node id. An insertion sort: a group has a handful of
   * members, and Array.prototype.sort allocates a work array on every call (status() runs for
   * every group of a node on every Admin.Status call).
   */
  private progressList(): ReplicaProgress[] {
    const list: ReplicaProgress[] = [];
    for (const [id, pr] of this.raft.tracker.progress) {
      const item: ReplicaProgress = {
        id,
        match: pr.match,
        next: pr.next,
        state: PROGRESS_STATE_NAMES[pr.state],
        isLearner: pr.isLearner,
      };
      let at = list.length;
      list.push(item);
      for (; at > 0 && list[at - 1].id > id; at--) list[at] = list[at - 1];
      list[at] = item;
    }
    return list;
  }

  /** checkInvariants asserts the replica's internal invariants (simulation calls it often). */
  checkInvariants(): void {
    this.raft.checkInvariants();
  }

  private softState(): SoftState {
    return { leader: this.raft.leader, role: this.raft.role };
  }
}
