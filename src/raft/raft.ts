/**
 * Raft is the consensus state machine of one replica of one group: pure and deterministic. It
 * consumes ticks and messages and produces messages, log entries and state changes, which
 * RawNode packages as Ready batches. It never does I/O, reads a clock or draws its own random
 * numbers. The structure follows the Raft paper (§ numbers refer to it) and etcd's raft.
 */
import { decodeConfChange } from './codec.js';
import { applyConfChangeToState } from './confchange.js';
import {
  type Mutation,
  type RaftConfig,
  type RaftConfigInput,
  validateRaftConfig,
} from './config.js';
import { NotLeaderError, ProposalDroppedError, assert } from './errors.js';
import { RaftLog } from './log.js';
import { type Progress, ProgressState } from './progress.js';
import { ReadOnly, decodeRoundId, encodeRoundId, type ReadRequest } from './read-only.js';
import type { RaftStorage } from './storage.js';
import { ProgressTracker, VoteResult } from './tracker.js';
import {
  ConfChangeType,
  EMPTY_BYTES,
  EntryType,
  MessageType,
  NONE,
  Role,
  emptyMessage,
  entryBytes,
  type ConfChange,
  type Entry,
  type GroupId,
  type HardState,
  type Index,
  type Message,
  type NodeId,
  type ReadState,
  type Snapshot,
  type Term,
} from './types.js';
import { validateMessage } from './validate.js';

/** CAMPAIGN_TRANSFER marks a vote request of a leadership transfer (it may break a lease). */
const CAMPAIGN_TRANSFER = new TextEncoder().encode('transfer');
/** QUIESCE_CONTEXT marks the heartbeat that quiesces an idle group (and its answers). */
const QUIESCE_CONTEXT = new TextEncoder().encode('quiesce');
/** WAKE_CONTEXT marks a woken follower's heartbeat answer that wakes its quiesced leader. */
const WAKE_CONTEXT = new TextEncoder().encode('wake');

/** Raft is one replica's consensus state. Use it through RawNode. */
export class Raft {
  readonly config: RaftConfig;
  readonly id: NodeId;
  readonly groupId: GroupId;
  readonly log: RaftLog;
  readonly tracker: ProgressTracker;
  /** term is the current term; it never decreases. */
  term: Term = 0;
  /** vote is who we voted for in `term` (NONE if nobody). */
  vote: NodeId = NONE;
  role = Role.Follower;
  /** leader is the leader of `term` as far as we know. */
  leader: NodeId = NONE;
  /** leadTransferee is the target of a leadership transfer in progress (leader only). */
  leadTransferee: NodeId = NONE;
  /** pendingConfIndex: no new membership change until applied >= this (leader only). */
  pendingConfIndex: Index = 0;
  /** uncommittedBytes is the payload appended in this term and not yet committed. */
  uncommittedBytes = 0;
  /** (index, bytes) of this term's proposals not yet committed, oldest first. */
  private uncommitted: { index: Index; bytes: number }[] = [];
  /** messages produced since the last Ready. */
  messages: Message[] = [];
  readStates: ReadState[] = [];
  /** droppedMessages counts messages refused by validation (bad input never crashes). */
  droppedMessages = 0;
  private readonly readOnly = new ReadOnly();
  /** Reads that arrived before this leader committed an entry of its term. */
  private readsBeforeTermCommit: ReadRequest[] = [];
  /** needsBroadcast: proposals were appended; send Appends once, at the next Ready. */
  private needsBroadcast = false;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  /**
   * quiesced: the group is idle and has stopped ticking (no heartbeats, no election timer).
   * Any message other than the quiesce heartbeat and its answer, and any local request, wakes it.
   */
  quiesced = false;
  /** idleTicks counts the leader's consecutive ticks with nothing to replicate. */
  private idleTicks = 0;
  private randomizedElectionTimeout = 0;

  constructor(input: RaftConfigInput, storage: RaftStorage) {
    this.config = validateRaftConfig(input);
    this.id = this.config.id;
    this.groupId = this.config.groupId;
    const { hardState, confState } = storage.initialState();
    this.log = new RaftLog(storage, this.config.applied);
    this.tracker = new ProgressTracker(
      this.config.inflightMessagesMax,
      this.config.inflightBytesMax,
    );
    this.tracker.setConf(confState, this.log.lastIndex() + 1);
    if (hardState.term > 0 || hardState.commit > 0) this.loadHardState(hardState);
    this.becomeFollower(this.term, NONE);
  }

  private loadHardState(hardState: HardState): void {
    const first = this.log.firstIndex() - 1;
    const last = this.log.lastIndex();
    assert(hardState.commit <= last, () => `hard state commit ${hardState.commit} > last ${last}`);
    this.term = hardState.term;
    this.vote = hardState.vote;
    this.log.commitTo(Math.max(hardState.commit, first));
  }

  hasMutation(mutation: Mutation): boolean {
    return this.config.mutations.has(mutation);
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  /** promotable: a voter of the current membership may campaign. */
  promotable(): boolean {
    return this.tracker.voters.has(this.id);
  }

  // ----- role transitions -----

  private reset(term: Term): void {
    if (this.term !== term) {
      assert(term > this.term, () => `term going back from ${this.term} to ${term}`);
      this.term = term;
      this.vote = NONE;
    }
    this.leader = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.leadTransferee = NONE;
    this.tracker.resetVotes();
    this.tracker.stopTracking(); // becomeLeader starts it again, for its own term
    this.pendingConfIndex = 0;
    this.uncommittedBytes = 0;
    this.uncommitted = [];
    this.readOnly.reset();
    this.readsBeforeTermCommit = [];
    this.needsBroadcast = false;
    this.quiesced = false;
    this.idleTicks = 0;
  }

  private resetRandomizedElectionTimeout(): void {
    const timeout = this.config.electionTicks;
    this.randomizedElectionTimeout = timeout + Math.floor(this.config.random() * timeout);
  }

  becomeFollower(term: Term, leader: NodeId): void {
    this.reset(term);
    this.leader = leader;
    this.role = Role.Follower;
  }

  private becomePreCandidate(): void {
    assert(this.role !== Role.Leader, 'leader cannot become pre-candidate');
    // Pre-vote changes neither term nor vote: a partitioned node cannot disrupt the group.
    this.tracker.resetVotes();
    this.leader = NONE;
    this.role = Role.PreCandidate;
  }

  private becomeCandidate(): void {
    assert(this.role !== Role.Leader, 'leader cannot become candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = Role.Candidate;
  }

  private becomeLeader(): void {
    assert(this.role === Role.Candidate, () => `become leader from role ${Role[this.role]}`);
    this.reset(this.term);
    this.tracker.resetProgress(this.id, this.log.lastIndex(), this.persistedLastIndex());
    this.leader = this.id;
    this.role = Role.Leader;
    this.tracker.progress.get(this.id)?.becomeReplicate();
    // The empty entry of the new term: once it commits, everything before it is committed too
    // (§5.4.2), reads may be served, and membership changes may start.
    const noop: Entry = {
      term: this.term,
      index: this.log.lastIndex() + 1,
      type: EntryType.Normal,
      data: EMPTY_BYTES,
    };
    this.appendEntries([noop]);
    this.pendingConfIndex = noop.index;
  }

  // ----- ticks -----

  tick(): void {
    if (this.quiesced) return;
    if (this.role === Role.Leader) this.tickHeartbeat();
    else this.tickElection();
  }

  /** wake leaves the quiesced state; a follower restarts its election timer from zero. */
  wake(): void {
    if (!this.quiesced) return;
    this.quiesced = false;
    this.idleTicks = 0;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    if (this.role !== Role.Leader && this.leader !== NONE) {
      // Wake the leader too: it sends nothing while quiesced.
      const m = emptyMessage(MessageType.HeartbeatResponse, this.groupId, this.id, this.leader);
      m.term = this.term;
      m.context = WAKE_CONTEXT;
      this.messages.push(m);
    }
  }

  /**
   * maybeQuiesce puts an idle leader to sleep after quiesceTicks idle ticks: everything is
   * committed and replicated everywhere, nothing waits. One last heartbeat, marked QUIESCE, tells
   * the followers to stop their election timers (and carries the final commit index).
   */
  private maybeQuiesce(): boolean {
    if (this.config.quiesceTicks === 0) return false;
    this.idleTicks = this.isIdle() ? this.idleTicks + 1 : 0;
    if (this.idleTicks < this.config.quiesceTicks) return false;
    this.broadcastHeartbeat(QUIESCE_CONTEXT);
    this.quiesced = true;
    return true;
  }

  private isIdle(): boolean {
    const last = this.log.lastIndex();
    if (this.log.committed !== last || this.leadTransferee !== NONE) return false;
    if (this.pendingReadCount() > 0 || this.needsBroadcast) return false;
    for (const pr of this.tracker.progress.values()) {
      if (pr.match !== last) return false; // (a Probe state with match at the end is idle too)
    }
    return true;
  }

  /**
   * wakes tells whether a message wakes a quiesced replica: everything does except the
   * quiesce heartbeat and heartbeat answers (late answers to earlier beats must not keep an idle
   * leader awake), unless the answer is a woken follower's explicit wake-up call.
   */
  private wakes(m: Message): boolean {
    if (m.type === MessageType.Heartbeat) return !bytesEqual(m.context, QUIESCE_CONTEXT);
    if (m.type === MessageType.HeartbeatResponse) return bytesEqual(m.context, WAKE_CONTEXT);
    return true;
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.stepLocal(MessageType.Hup);
    }
  }

  /**
   * expireSnapshots falls back to probing a follower whose snapshot was not reported within
   * snapshotTimeoutTicks (the driver lost the report, or the follower restarted): probing sends
   * a new snapshot if one is still needed.
   */
  private expireSnapshots(): void {
    for (const pr of this.tracker.progress.values()) {
      if (pr.state !== ProgressState.Snapshot) continue;
      pr.snapshotElapsed++;
      if (pr.snapshotElapsed >= this.config.snapshotTimeoutTicks) pr.becomeProbe();
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.config.electionTicks) {
      this.electionElapsed = 0;
      if (this.config.checkQuorum && !this.tracker.quorumActive(this.id)) {
        this.becomeFollower(this.term, NONE);
        return;
      }
      if (this.leadTransferee !== NONE) this.leadTransferee = NONE; // transfer timed out
    }
    this.expireSnapshots();
    if (this.maybeQuiesce()) return;
    if (this.heartbeatElapsed >= this.config.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.stepLocal(MessageType.Beat);
    }
  }

  // ----- stepping -----

  /** step handles a message from a peer; invalid ones are dropped and counted. */
  step(message: Message): void {
    const problem = validateMessage(message, this.id, this.groupId, this.tracker);
    if (problem !== null) {
      this.droppedMessages++;
      return;
    }
    if (this.wakes(message)) this.wake();
    if (!this.stepTerm(message)) return;
    this.stepByType(message);
    if (
      message.type === MessageType.Heartbeat &&
      bytesEqual(message.context, QUIESCE_CONTEXT) &&
      this.role === Role.Follower &&
      message.from === this.leader
    ) {
      // A follower goes quiet when its current leader says so.
      this.quiesced = true;
      this.electionElapsed = 0;
    }
  }

  /** stepLocal handles a local event (election timeout, heartbeat timeout). */
  stepLocal(type: MessageType.Hup | MessageType.Beat): void {
    if (type === MessageType.Hup) this.hup(false);
    else if (this.role === Role.Leader) {
      const round = this.readOnly.newestRoundId();
      this.broadcastHeartbeat(round === null ? EMPTY_BYTES : encodeRoundId(round));
    }
  }

  /** stepTerm applies the term rules (§5.1, PreVote, CheckQuorum lease); false = ignore it. */
  private stepTerm(m: Message): boolean {
    if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const force = bytesEqual(m.context, CAMPAIGN_TRANSFER);
        const inLease =
          this.config.checkQuorum &&
          this.leader !== NONE &&
          this.electionElapsed < this.config.electionTicks;
        if (!force && inLease) return false; // a live leader exists: do not disturb it
      }
      if (m.type === MessageType.PreVote) return true;
      if (m.type === MessageType.PreVoteResponse && !m.reject) return true;
      const fromLeader =
        m.type === MessageType.Append ||
        m.type === MessageType.Heartbeat ||
        m.type === MessageType.Snapshot;
      this.becomeFollower(m.term, fromLeader ? m.from : NONE);
      return true;
    }
    if (m.term < this.term) {
      if (
        (this.config.checkQuorum || this.config.preVote) &&
        (m.type === MessageType.Heartbeat || m.type === MessageType.Append)
      ) {
        // Tell a stale leader about the newer term so it steps down.
        this.send(this.reply(m, MessageType.AppendResponse));
      } else if (m.type === MessageType.PreVote) {
        const reply = this.reply(m, MessageType.PreVoteResponse);
        reply.reject = true;
        this.send(reply);
      }
      return false;
    }
    return true;
  }

  private stepByType(m: Message): void {
    if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case Role.Leader:
        this.stepLeader(m);
        return;
      case Role.Candidate:
      case Role.PreCandidate:
        this.stepCandidate(m);
        return;
      case Role.Follower:
        this.stepFollower(m);
        return;
      default: {
        const never: never = this.role;
        throw new Error(`unknown role ${never}`);
      }
    }
  }

  private handleVoteRequest(m: Message): void {
    const responseType =
      m.type === MessageType.Vote ? MessageType.VoteResponse : MessageType.PreVoteResponse;
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.leader === NONE) ||
      (m.type === MessageType.PreVote && m.term > this.term);
    const logOk =
      this.hasMutation('vote-without-log-check') || this.log.isUpToDate(m.index, m.logTerm);
    const reply = this.reply(m, responseType);
    if (canVote && logOk) {
      // A granted pre-vote carries the term it was asked for, so the candidate counts it.
      reply.term = m.term;
      if (m.type === MessageType.Vote) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      reply.reject = true;
    }
    this.send(reply);
  }

  // ----- elections -----

  /** hup starts an election (a pre-vote round first when enabled), unless we may not. */
  hup(transfer: boolean): void {
    this.wake();
    if (this.role === Role.Leader || !this.promotable()) return;
    if (this.hasUnappliedConfChange()) return; // our view of the membership may be stale
    if (this.config.preVote && !transfer) this.campaign(true, false);
    else this.campaign(false, transfer);
  }

  private hasUnappliedConfChange(): boolean {
    if (this.log.committed <= this.log.applied) return false;
    const lo = Math.max(this.log.applied + 1, this.log.firstIndex());
    const entries = this.log.slice(lo, this.log.committed + 1, Number.MAX_SAFE_INTEGER);
    return entries.some((entry) => entry.type === EntryType.ConfChange);
  }

  private campaign(pre: boolean, transfer: boolean): void {
    let term: Term;
    let type: MessageType;
    if (pre) {
      this.becomePreCandidate();
      term = this.term + 1;
      type = MessageType.PreVote;
    } else {
      this.becomeCandidate();
      term = this.term;
      type = MessageType.Vote;
    }
    if (this.tracker.recordVote(this.id, true) === VoteResult.Won) {
      this.onElectionWon(pre);
      return;
    }
    for (const voter of this.tracker.voters) {
      if (voter === this.id) continue;
      const m = emptyMessage(type, this.groupId, this.id, voter);
      m.term = term;
      m.index = this.log.lastIndex();
      m.logTerm = this.log.lastTerm();
      if (transfer) m.context = CAMPAIGN_TRANSFER;
      this.messages.push(m);
    }
  }

  private onElectionWon(pre: boolean): void {
    if (pre) {
      this.campaign(false, false);
    } else {
      this.becomeLeader();
      this.broadcastAppend();
    }
  }

  private stepCandidate(m: Message): void {
    const myResponse =
      this.role === Role.PreCandidate ? MessageType.PreVoteResponse : MessageType.VoteResponse;
    switch (m.type) {
      case MessageType.Append:
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.Snapshot:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      default:
        if (m.type !== myResponse) return;
    }
    const result = this.tracker.recordVote(m.from, !m.reject);
    if (result === VoteResult.Won) this.onElectionWon(this.role === Role.PreCandidate);
    else if (result === VoteResult.Lost) this.becomeFollower(this.term, NONE);
  }

  // ----- follower -----

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.Append:
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleHeartbeat(m);
        return;
      case MessageType.Snapshot:
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleSnapshot(m);
        return;
      case MessageType.TimeoutNow:
        this.hup(true);
        return;
      case MessageType.ReadIndexResponse:
        this.readStates.push({ index: m.index, context: m.context });
        return;
      default:
        return; // responses meant for another role: stale, ignore
    }
  }

  private handleAppend(m: Message): void {
    const reply = this.reply(m, MessageType.AppendResponse);
    if (m.index < this.log.committed) {
      reply.index = this.log.committed;
      this.send(reply);
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== null) {
      reply.index = lastNew;
    } else {
      // Fast backtracking: point the leader at the last index whose term could match.
      const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
      reply.reject = true;
      reply.index = m.index;
      reply.rejectHint = hint;
      reply.logTerm = this.log.term(hint) ?? 0;
    }
    this.send(reply);
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    const reply = this.reply(m, MessageType.HeartbeatResponse);
    reply.context = m.context;
    this.send(reply);
  }

  private handleSnapshot(m: Message): void {
    const snapshot = m.snapshot;
    assert(snapshot !== null, 'validated Snapshot message without snapshot');
    const reply = this.reply(m, MessageType.AppendResponse);
    reply.index = this.restore(snapshot) ? this.log.lastIndex() : this.log.committed;
    this.send(reply);
  }

  /** restore installs a snapshot newer than our commit; false when nothing was needed. */
  private restore(snapshot: Snapshot): boolean {
    const { index, term } = snapshot.metadata;
    if (index <= this.log.committed) return false;
    if (this.log.matchTerm(index, term)) {
      this.log.commitTo(index); // we already have the snapshot's entries: just move commit
      return false;
    }
    this.log.restore(snapshot);
    this.tracker.setConf(snapshot.metadata.confState, this.log.lastIndex() + 1);
    return true;
  }

  // ----- leader -----

  private stepLeader(m: Message): void {
    const progress = this.tracker.progress.get(m.from);
    switch (m.type) {
      case MessageType.AppendResponse:
        if (progress) this.handleAppendResponse(m, progress);
        return;
      case MessageType.HeartbeatResponse:
        if (progress) this.handleHeartbeatResponse(m, progress);
        return;
      case MessageType.ReadIndex:
        this.readIndex({ from: m.from, context: m.context });
        return;
      case MessageType.TransferLeader:
        this.transferLeader(m.from);
        return;
      default:
        return;
    }
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      const hint =
        m.logTerm > 0 ? this.log.findConflictByTerm(m.rejectHint, m.logTerm) : m.rejectHint;
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        this.sendAppend(m.from, true);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) return;
    if (pr.state === ProgressState.Probe) {
      pr.becomeReplicate();
    } else if (pr.state === ProgressState.Snapshot && pr.match >= pr.pendingSnapshot) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === ProgressState.Replicate) {
      pr.inflights.freeLE(m.index);
    }
    if (this.maybeCommit()) {
      this.onCommitAdvanced();
      this.broadcastAppend();
    } else if (wasPaused) {
      this.sendAppend(m.from, true);
    }
    while (this.sendAppend(m.from, false)) {
      // keep filling the in-flight window while entries remain
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex())
      this.sendTimeoutNow(m.from);
  }

  private handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.probeSent = false;
    // A full window whose Appends (or their acks) were lost would never drain: free one slot
    // so an Append goes out, and its answer resynchronises match (or moves back to probing).
    if (pr.state === ProgressState.Replicate && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.log.lastIndex()) this.sendAppend(m.from, true);
    const roundId = decodeRoundId(m.context);
    if (roundId === null) return;
    const released = this.readOnly.ack(roundId, m.from, (acks) => this.tracker.hasQuorum(acks));
    for (const round of released) {
      for (const request of round.requests) this.answerRead(request, round.index);
    }
  }

  private answerRead(request: ReadRequest, index: Index): void {
    if (request.from === this.id) {
      this.readStates.push({ index, context: request.context });
      return;
    }
    const m = emptyMessage(MessageType.ReadIndexResponse, this.groupId, this.id, request.from);
    m.term = this.term;
    m.index = index;
    m.context = request.context;
    this.messages.push(m);
  }

  /** maybeCommit moves commit to the quorum index if that entry is of our term (§5.4.2). */
  maybeCommit(): boolean {
    const index = this.tracker.committedIndex();
    if (this.hasMutation('commit-old-term')) {
      if (index > this.log.committed && this.log.term(index) !== null) {
        this.log.commitTo(index);
        return true;
      }
      return false;
    }
    return this.log.maybeCommit(index, this.term);
  }

  /** onCommitAdvanced releases what waited for the first commit of this term. */
  private onCommitAdvanced(): void {
    let released = 0;
    while (
      released < this.uncommitted.length &&
      this.uncommitted[released].index <= this.log.committed
    ) {
      this.uncommittedBytes -= this.uncommitted[released].bytes;
      released++;
    }
    if (released > 0) this.uncommitted.splice(0, released);
    if (this.readsBeforeTermCommit.length > 0 && this.committedInCurrentTerm()) {
      const reads = this.readsBeforeTermCommit;
      this.readsBeforeTermCommit = [];
      for (const read of reads) this.readIndex(read);
    }
  }

  committedInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  // ----- sending -----

  private reply(m: Message, type: MessageType): Message {
    const reply = emptyMessage(type, this.groupId, this.id, m.from);
    reply.term = this.term;
    return reply;
  }

  private send(m: Message): void {
    this.messages.push(m);
  }

  /** sendAppend sends entries (or a snapshot) to `to`; false when nothing was sent. */
  sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.tracker.progress.get(to);
    if (!pr || to === this.id || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const entries = this.log.entriesFrom(pr.next, this.config.messageBytesMax);
    if (prevTerm === null || entries === null) return this.sendSnapshot(to);
    if (entries.length === 0 && !sendIfEmpty) return false;
    const m = emptyMessage(MessageType.Append, this.groupId, this.id, to);
    m.term = this.term;
    m.index = prevIndex;
    m.logTerm = prevTerm;
    m.entries = entries;
    m.commit = this.log.committed;
    let bytes = 0;
    for (const entry of entries) bytes += entryBytes(entry);
    pr.sentEntries(entries.length, bytes);
    this.messages.push(m);
    return true;
  }

  private sendSnapshot(to: NodeId): boolean {
    const pr = this.tracker.progress.get(to);
    if (!pr || !pr.recentActive) return false; // do not ship a snapshot to a node that is down
    const snapshot = this.log.snapshot();
    assert(snapshot.metadata.index > 0, () => `no snapshot to send to ${to}`);
    const m = emptyMessage(MessageType.Snapshot, this.groupId, this.id, to);
    m.term = this.term;
    m.snapshot = snapshot;
    pr.becomeSnapshot(snapshot.metadata.index);
    this.messages.push(m);
    return true;
  }

  broadcastAppend(): void {
    for (const id of this.tracker.progress.keys()) if (id !== this.id) this.sendAppend(id, true);
  }

  private broadcastHeartbeat(context: Uint8Array): void {
    for (const [id, pr] of this.tracker.progress) {
      if (id === this.id) continue;
      const m = emptyMessage(MessageType.Heartbeat, this.groupId, this.id, id);
      m.term = this.term;
      m.commit = Math.min(pr.match, this.log.committed);
      m.context = context;
      this.messages.push(m);
    }
  }

  private sendTimeoutNow(to: NodeId): void {
    const m = emptyMessage(MessageType.TimeoutNow, this.groupId, this.id, to);
    m.term = this.term;
    this.messages.push(m);
  }

  // ----- API entry points (called by RawNode) -----

  /** propose appends `data` as a new entry; throws when not the leader or over a limit. */
  propose(data: Uint8Array, type: EntryType = EntryType.Normal): { index: Index; term: Term } {
    if (this.role !== Role.Leader) throw new NotLeaderError(this.leader);
    this.wake();
    if (this.leadTransferee !== NONE)
      throw new ProposalDroppedError('leadership transfer in progress');
    if (!this.tracker.voters.has(this.id))
      throw new ProposalDroppedError('leader is being removed');
    if (data.byteLength > this.config.entryBytesMax) {
      throw new ProposalDroppedError(
        `entry of ${data.byteLength} bytes exceeds entryBytesMax ${this.config.entryBytesMax}`,
      );
    }
    const bytes = data.byteLength;
    if (
      this.uncommittedBytes > 0 &&
      this.uncommittedBytes + bytes > this.config.uncommittedBytesMax
    ) {
      throw new ProposalDroppedError(
        `uncommitted bytes ${this.uncommittedBytes} + ${bytes} exceed uncommittedBytesMax ${this.config.uncommittedBytesMax}`,
      );
    }
    const entry: Entry = { term: this.term, index: this.log.lastIndex() + 1, type, data };
    this.uncommittedBytes += bytes;
    this.uncommitted.push({ index: entry.index, bytes });
    this.appendEntries([entry]);
    this.needsBroadcast = true;
    return { index: entry.index, term: entry.term };
  }

  private appendEntries(entries: Entry[]): void {
    // The leader's own match moves only once these entries are on its disk (onPersisted):
    // its Appends may leave before that, so it must not count itself for them yet.
    this.log.append(entries);
  }

  /**
   * onPersisted is told (by RawNode.advance) that the log up to (index, term) is on disk. A
   * leader now counts itself for those entries, which may commit them.
   */
  onPersisted(index: Index, term: Term): void {
    if (this.role !== Role.Leader || this.log.term(index) !== term) return;
    const self = this.tracker.progress.get(this.id);
    if (!self || !self.maybeUpdate(index)) return;
    if (this.maybeCommit()) {
      this.onCommitAdvanced();
      this.needsBroadcast = true; // tell the followers the new commit index
    }
  }

  /** persistedLastIndex is the end of the log prefix known to be on disk. */
  private persistedLastIndex(): Index {
    return Math.min(this.log.storage.lastIndex(), this.log.unstable.offset - 1);
  }

  /** proposeConfChange proposes one single-server membership change (§4.1, one at a time). */
  proposeConfChange(change: ConfChange, data: Uint8Array): { index: Index; term: Term } {
    if (this.role !== Role.Leader) throw new NotLeaderError(this.leader);
    if (!this.committedInCurrentTerm()) {
      throw new ProposalDroppedError('leader has not yet committed an entry of its term');
    }
    if (this.pendingConfIndex > this.log.applied) {
      throw new ProposalDroppedError(
        `membership change at ${this.pendingConfIndex} not yet applied (applied ${this.log.applied})`,
      );
    }
    const problem = this.checkConfChange(change);
    if (problem !== null) throw new ProposalDroppedError(problem);
    const result = this.propose(data, EntryType.ConfChange);
    this.pendingConfIndex = result.index;
    return result;
  }

  private checkConfChange(change: ConfChange): string | null {
    const { voters, learners } = this.tracker;
    switch (change.type) {
      case ConfChangeType.AddNode:
        return voters.has(change.nodeId) ? `node ${change.nodeId} is already a voter` : null;
      case ConfChangeType.AddLearner:
        if (voters.has(change.nodeId))
          return `node ${change.nodeId} is a voter (demotion unsupported)`;
        return learners.has(change.nodeId) ? `node ${change.nodeId} is already a learner` : null;
      case ConfChangeType.RemoveNode:
        if (!this.tracker.isMember(change.nodeId)) return `node ${change.nodeId} is not a member`;
        if (voters.size === 1 && voters.has(change.nodeId)) return 'cannot remove the last voter';
        return null;
      default:
        return `unknown membership change type ${String(change.type)}`;
    }
  }

  /** applyConfChange makes a committed membership change take effect (called on apply). */
  applyConfChange(change: ConfChange): void {
    const next = applyConfChangeToState(this.tracker.confState(), change);
    this.tracker.setConf(next, this.log.lastIndex() + 1);
    const { voters } = this.tracker;
    if (this.role !== Role.Leader) return;
    if (!voters.has(this.id)) {
      this.becomeFollower(this.term, NONE); // removed: let the remaining voters elect
      return;
    }
    if (this.leadTransferee !== NONE && !voters.has(this.leadTransferee))
      this.leadTransferee = NONE;
    if (this.maybeCommit()) this.onCommitAdvanced();
    this.broadcastAppend();
  }

  /** applyCommittedEntry is called by RawNode.advance for every applied entry. */
  applyCommittedEntry(entry: Entry): void {
    if (entry.type === EntryType.ConfChange) this.applyConfChange(decodeConfChange(entry.data));
  }

  /** readIndex registers a linearizable read (§6.4); the answer arrives as a ReadState. */
  readIndex(request: ReadRequest): void {
    this.wake();
    if (this.role !== Role.Leader) {
      if (this.leader === NONE) throw new NotLeaderError(NONE);
      const m = emptyMessage(MessageType.ReadIndex, this.groupId, this.id, this.leader);
      m.term = this.term;
      m.context = request.context;
      this.messages.push(m);
      return;
    }
    if (this.hasMutation('read-without-readindex') || this.tracker.voters.size === 1) {
      this.answerRead(request, this.log.committed);
      return;
    }
    if (!this.committedInCurrentTerm()) {
      // Until the no-op of this term commits we do not know the true commit index.
      this.readsBeforeTermCommit.push(request);
      return;
    }
    this.readOnly.add(request);
  }

  /** flushPending sends what was batched since the last Ready: Appends and one read round. */
  flushPending(): void {
    if (this.role !== Role.Leader) return;
    if (this.needsBroadcast) {
      this.needsBroadcast = false;
      this.broadcastAppend();
    }
    if (this.readOnly.hasGathering()) {
      const round = this.readOnly.startRound(this.log.committed);
      const released = this.readOnly.ack(round.id, this.id, (acks) => this.tracker.hasQuorum(acks));
      for (const done of released)
        for (const request of done.requests) this.answerRead(request, done.index);
      if (released.length === 0) this.broadcastHeartbeat(encodeRoundId(round.id));
    }
  }

  hasPendingFlush(): boolean {
    return this.role === Role.Leader && (this.needsBroadcast || this.readOnly.hasGathering());
  }

  /** transferLeader hands leadership to `to` once it is caught up (TimeoutNow, §3.10). */
  transferLeader(to: NodeId): void {
    this.wake();
    if (this.role !== Role.Leader) {
      if (this.leader === NONE) throw new NotLeaderError(NONE);
      const m = emptyMessage(MessageType.TransferLeader, this.groupId, this.id, this.leader);
      m.term = this.term;
      // The transferee is the sender of a forwarded TransferLeader, as in etcd.
      m.from = to;
      this.messages.push(m);
      return;
    }
    const pr = this.tracker.progress.get(to);
    if (to === this.id || !pr || !this.tracker.voters.has(to) || this.leadTransferee === to) return;
    this.leadTransferee = to;
    this.electionElapsed = 0;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to, true);
  }

  /** reportSnapshot: the driver finished (or failed) sending a snapshot to `to`. */
  reportSnapshot(to: NodeId, ok: boolean): void {
    const pr = this.tracker.progress.get(to);
    if (this.role !== Role.Leader || !pr || pr.state !== ProgressState.Snapshot) return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    pr.probeSent = true; // wait for the follower's answer or the next heartbeat
  }

  /** reportUnreachable: the driver could not deliver to `to`; go back to probing it. */
  reportUnreachable(to: NodeId): void {
    const pr = this.tracker.progress.get(to);
    if (this.role === Role.Leader && pr && pr.state === ProgressState.Replicate) pr.becomeProbe();
  }

  /** pendingReadCount is the number of reads not yet answered (for status and tests). */
  pendingReadCount(): number {
    return this.readOnly.pendingCount() + this.readsBeforeTermCommit.length;
  }

  /** checkInvariants asserts the core's internal invariants (run after every simulated step). */
  checkInvariants(): void {
    const log = this.log;
    assert(
      log.applied <= log.applying && log.applying <= log.committed,
      () => `applied ${log.applied} <= applying ${log.applying} <= committed ${log.committed}`,
    );
    assert(
      log.committed <= log.lastIndex(),
      () => `committed ${log.committed} > last ${log.lastIndex()}`,
    );
    assert(this.role !== Role.Leader || this.leader === this.id, 'leader does not know itself');
    assert(
      this.role !== Role.Candidate || this.vote === this.id,
      'candidate did not vote for itself',
    );
    for (const id of this.tracker.learners)
      assert(!this.tracker.voters.has(id), `node ${id} voter and learner`);
    if (this.role === Role.Leader) {
      for (const [id, pr] of this.tracker.progress) {
        assert(pr.match < pr.next, () => `progress ${id}: match ${pr.match} >= next ${pr.next}`);
      }
    }
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
