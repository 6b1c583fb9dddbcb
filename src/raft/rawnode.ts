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
  type HardState,
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
  private previousSoft: SoftState;
  private previousHard: HardState;

  constructor(config: RaftConfigInput, storage: RaftStorage) {
    this.raft = new Raft(config, storage);
    this.id = this.raft.id;
    this.groupId = this.raft.groupId;
    this.previousSoft = this.softState();
    this.previousHard = this.raft.hardState();
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
      !softEqual(this.softState(), this.previousSoft) ||
      !hardEqual(raft.hardState(), this.previousHard)
    );
  }

  /** ready returns the next batch of work; call advance(ready) when it is done. */
  ready(): Ready {
    const raft = this.raft;
    raft.flushPending();
    const soft = this.softState();
    const hard = raft.hardState();
    const entries = raft.log.unstableEntries();
    const snapshot = raft.log.unstable.snapshot;
    const hardChanged = !hardEqual(hard, this.previousHard);
    const ready: Ready = {
      softState: softEqual(soft, this.previousSoft) ? null : soft,
      hardState: hardChanged ? hard : null,
      snapshot,
      entries,
      committedEntries: raft.log.nextCommittedEntries(raft.config.uncommittedBytesMax),
      earlyMessages: raft.messages.filter((m) => isEarlyMessage(m.type)),
      messages: raft.messages.filter((m) => !isEarlyMessage(m.type)),
      readStates: raft.readStates,
      mustSync:
        entries.length > 0 ||
        snapshot !== null ||
        hard.term !== this.previousHard.term ||
        hard.vote !== this.previousHard.vote,
    };
    raft.messages = [];
    raft.readStates = [];
    this.previousSoft = soft;
    this.previousHard = hard;
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

  private progressList(): ReplicaProgress[] {
    const list: ReplicaProgress[] = [];
    for (const [id, pr] of this.raft.tracker.progress) {
      list.push({
        id,
        match: pr.match,
        next: pr.next,
        state: PROGRESS_STATE_NAMES[pr.state],
        isLearner: pr.isLearner,
      });
    }
    return list.sort((a, b) => a.id - b.id);
  }

  /** checkInvariants asserts the replica's internal invariants (simulation calls it often). */
  checkInvariants(): void {
    this.raft.checkInvariants();
  }

  private softState(): SoftState {
    return { leader: this.raft.leader, role: this.raft.role };
  }
}

function softEqual(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role;
}

function hardEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
