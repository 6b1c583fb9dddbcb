/**
 * ProgressTracker holds a group's membership (voters and learners) and, at the leader, the
 * Progress of every replica. Quorum arithmetic lives here: majority of voters only; learners
 * receive the log but never count.
 */
import { assert } from './errors.js';
import { Progress } from './progress.js';
import type { ConfState, Index, NodeId } from './types.js';

/** MATCH_SCRATCH is committedIndex's working array, shared by every tracker. */
const MATCH_SCRATCH: Index[] = [];

/** VoteResult is the outcome of an election count so far. */
export enum VoteResult {
  Pending = 0,
  Won = 1,
  Lost = 2,
}

/**
 * ProgressTracker: membership plus per-replica progress. Invariants: voters ∩ learners = ∅;
 * setConf is the only writer of voters and learners, and sortedVoters / sortedLearners hold
 * their members sorted; progress is empty unless tracking, and then holds exactly the members.
 */
export class ProgressTracker {
  readonly voters = new Set<NodeId>();
  readonly learners = new Set<NodeId>();
  /**
   * progress of every member, kept only while tracking (at the leader): a follower's would be
   * replaced unread when it becomes leader, and a node holds thousands of follower replicas.
   */
  readonly progress = new Map<NodeId, Progress>();
  private tracking = false;
  /** votes counts the answers of this election; null when none were counted (most replicas). */
  private votes: Map<NodeId, boolean> | null = null;
  /** The membership sorted once per change, so status() and confState() need not sort. */
  private sortedVoters: readonly NodeId[] = [];
  private sortedLearners: readonly NodeId[] = [];

  constructor(
    private readonly inflightCountMax: number,
    private readonly inflightBytesMax: number,
  ) {}

  /** quorum is the number of voters that makes a majority. */
  quorum(): number {
    return Math.floor(this.voters.size / 2) + 1;
  }

  isMember(id: NodeId): boolean {
    return this.voters.has(id) || this.learners.has(id);
  }

  /** confState returns the membership as sorted arrays (fresh copies: callers may keep them). */
  confState(): ConfState {
    return { voters: this.sortedVoters.slice(), learners: this.sortedLearners.slice() };
  }

  /**
   * setConf replaces the membership; when tracking, progress of new members starts at
   * (match 0, next) and that of removed members is dropped.
   */
  setConf(conf: ConfState, next: Index): void {
    this.voters.clear();
    this.learners.clear();
    for (const id of conf.voters) this.voters.add(id);
    for (const id of conf.learners) {
      assert(!this.voters.has(id), () => `node ${id} is both voter and learner`);
      this.learners.add(id);
    }
    this.sortedVoters = [...this.voters].sort((a, b) => a - b);
    this.sortedLearners = [...this.learners].sort((a, b) => a - b);
    for (const id of [...this.progress.keys()]) {
      if (!this.isMember(id)) this.progress.delete(id);
    }
    if (!this.tracking) return;
    for (const id of this.members()) this.ensureProgress(id, next);
  }

  /** members lists voters then learners. */
  members(): NodeId[] {
    return [...this.voters, ...this.learners];
  }

  /** ensureProgress creates the progress of `id` if missing and keeps its learner flag true. */
  ensureProgress(id: NodeId, next: Index): Progress {
    let progress = this.progress.get(id);
    if (!progress) {
      progress = new Progress(
        0,
        next,
        this.learners.has(id),
        this.inflightCountMax,
        this.inflightBytesMax,
      );
      this.progress.set(id, progress);
    }
    progress.isLearner = this.learners.has(id);
    return progress;
  }

  /**
   * resetProgress starts tracking with fresh progress for every member (a leader's term
   * starts); this replica's own match is the end of what it has persisted (not of what it
   * merely holds in memory).
   */
  resetProgress(self: NodeId, lastIndex: Index, persistedIndex: Index): void {
    this.progress.clear();
    this.tracking = true;
    for (const id of this.members()) {
      const progress = this.ensureProgress(id, lastIndex + 1);
      if (id === self) progress.match = persistedIndex;
    }
  }

  /** stopTracking drops all progress (the replica is no longer leader). */
  stopTracking(): void {
    this.progress.clear();
    this.tracking = false;
  }

  /** committedIndex is the highest index replicated on a majority of voters. */
  committedIndex(): Index {
    const voters = this.sortedVoters;
    if (voters.length === 0) return 0;
    // It runs on every append answer, so it reuses one module-wide array (the call is
    // synchronous) and sorts by insertion (3 to 7 voters): a new array and a sort per call were
    // a visible share of the leader's garbage.
    const matches = MATCH_SCRATCH;
    matches.length = 0;
    for (let v = 0; v < voters.length; v++) {
      const match = this.progress.get(voters[v])?.match ?? 0;
      let i = matches.length;
      matches.push(match);
      while (i > 0 && matches[i - 1] < match) {
        matches[i] = matches[i - 1];
        i--;
      }
      matches[i] = match;
    }
    return matches[this.quorum() - 1];
  }

  /** resetVotes forgets the answers counted so far (a new election round starts). */
  resetVotes(): void {
    this.votes = null;
  }

  /** recordVote counts a vote (the first answer of each voter counts) and tallies. */
  recordVote(id: NodeId, granted: boolean): VoteResult {
    const votes = (this.votes ??= new Map());
    if (!votes.has(id)) votes.set(id, granted);
    let granted_ = 0;
    let rejected = 0;
    for (const voter of this.voters) {
      const vote = votes.get(voter);
      if (vote === true) granted_++;
      else if (vote === false) rejected++;
    }
    if (granted_ >= this.quorum()) return VoteResult.Won;
    if (this.voters.size - rejected < this.quorum()) return VoteResult.Lost;
    return VoteResult.Pending;
  }

  /** hasQuorum tells whether `ids` contains a majority of voters. */
  hasQuorum(ids: ReadonlySet<NodeId>): boolean {
    let count = 0;
    for (const voter of this.voters) if (ids.has(voter)) count++;
    return count >= this.quorum();
  }

  /** quorumActive tells whether a majority was heard from, then clears the marks (not self). */
  quorumActive(self: NodeId): boolean {
    let active = 0;
    for (const voter of this.voters) {
      const progress = this.progress.get(voter);
      if (voter === self || progress?.recentActive) active++;
    }
    for (const [id, progress] of this.progress) progress.recentActive = id === self;
    return active >= this.quorum();
  }
}
