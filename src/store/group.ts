/**
 * GroupReplica is one Raft group hosted on a store node: its RawNode, its log storage, and the
 * client work waiting on it (proposals until applied, reads until their read index is applied).
 * The node's ready loop (node.ts) drives it; this file holds the per-group bookkeeping.
 */
import {
  NotLeaderError,
  RawNode,
  Role,
  type ConfChange,
  type GroupId,
  type Index,
  type NodeId,
  type RaftConfigInput,
  type RaftStorage,
  type Term,
} from '../raft/index.js';
import type { GroupLogStorage } from './log-storage.js';
import type { ApplyResult } from './sm-state-machine.js';

/** StoreError is an expected failure of the store node with a stable code (see kv-service). */
export class StoreError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly leaderId: NodeId = 0 as NodeId,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

interface PendingProposal {
  term: Term;
  resolve: (result: ApplyResult) => void;
  reject: (error: Error) => void;
}

interface IndexWaiter {
  index: Index;
  resolve: () => void;
  reject: (error: Error) => void;
}

/** GroupReplica holds one group's replica and its waiting client work. */
export class GroupReplica {
  readonly raw: RawNode;
  /** proposals maps the log index of a proposal to its waiting client. */
  private readonly proposals = new Map<Index, PendingProposal>();
  /** reads maps a read-index request id to its waiter (resolved with the read index). */
  private readonly reads = new Map<
    number,
    { resolve: (index: Index) => void; reject: (e: Error) => void }
  >();
  /** appliedWaiters wait for the applied index to reach theirs (reads, at-index reads). */
  private appliedWaiters: IndexWaiter[] = [];
  private nextReadId = 1;
  /** role and leader as of the last Ready (for routing answers). */
  role = Role.Follower;
  leader: NodeId = 0 as NodeId;
  /** restoring: a snapshot image is being installed; entries are not applied meanwhile. */
  restoring = false;
  /** inCycle: a ready cycle holds this group's Ready (between ready() and advance()). */
  inCycle = false;
  /** appliedSinceCompaction counts entries applied since the log was last compacted. */
  appliedSinceCompaction = 0;

  constructor(
    readonly groupId: GroupId,
    readonly storage: GroupLogStorage,
    raftStorage: RaftStorage,
    config: RaftConfigInput,
  ) {
    this.raw = new RawNode(config, raftStorage);
  }

  /** pendingProposalCount is the number of proposals waiting to be applied. */
  pendingProposalCount(): number {
    return this.proposals.size;
  }

  /** propose appends a command and resolves with its outcome once applied. */
  propose(data: Uint8Array, pendingMax: number): Promise<ApplyResult> {
    if (this.proposals.size >= pendingMax) {
      return Promise.reject(
        new StoreError(
          'RESOURCE_EXHAUSTED',
          `group ${this.groupId} has ${this.proposals.size} pending proposals, the limit pendingProposalsMax`,
        ),
      );
    }
    let placed: { index: Index; term: Term };
    try {
      placed = this.raw.propose(data);
    } catch (error) {
      return Promise.reject(this.translate(error));
    }
    return new Promise((resolve, reject) => {
      this.proposals.set(placed.index, { term: placed.term, resolve, reject });
    });
  }

  /** proposeConfChange proposes one membership change; resolves once it is applied. */
  proposeConfChange(change: ConfChange): Promise<ApplyResult> {
    let placed: { index: Index; term: Term };
    try {
      placed = this.raw.proposeConfChange(change);
    } catch (error) {
      return Promise.reject(this.translate(error));
    }
    return new Promise((resolve, reject) => {
      this.proposals.set(placed.index, { term: placed.term, resolve, reject });
    });
  }

  /** readIndex resolves with a linearizable read index (confirmed leadership). */
  readIndex(): Promise<Index> {
    const id = this.nextReadId++;
    const context = new Uint8Array(8);
    new DataView(context.buffer).setFloat64(0, id);
    try {
      this.raw.readIndex(context);
    } catch (error) {
      return Promise.reject(this.translate(error));
    }
    return new Promise((resolve, reject) => this.reads.set(id, { resolve, reject }));
  }

  /** onReadState resolves the read whose context is `context`. */
  onReadState(index: Index, context: Uint8Array): void {
    if (context.byteLength !== 8) return;
    const id = new DataView(context.buffer, context.byteOffset, 8).getFloat64(0);
    const read = this.reads.get(id);
    if (!read) return;
    this.reads.delete(id);
    read.resolve(index);
  }

  /** waitApplied resolves once the applied index reaches `index`. */
  waitApplied(index: Index, applied: Index): Promise<void> {
    if (applied >= index) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.appliedWaiters.push({ index, resolve, reject });
    });
  }

  /** onApplied resolves the proposals and waiters covered by newly applied results. */
  onApplied(
    results: readonly ApplyResult[],
    terms: ReadonlyMap<Index, Term>,
    applied: Index,
  ): void {
    for (const result of results) {
      const pending = this.proposals.get(result.index);
      if (!pending) continue;
      this.proposals.delete(result.index);
      if (terms.get(result.index) === pending.term) pending.resolve(result);
      else
        pending.reject(
          new StoreError(
            'PROPOSAL_DROPPED',
            `entry ${result.index} was replaced by a new leader; retry`,
          ),
        );
    }
    this.releaseApplied(applied);
  }

  /** releaseApplied resolves every waiter whose index is applied. */
  releaseApplied(applied: Index): void {
    if (this.appliedWaiters.length === 0) return;
    const still: IndexWaiter[] = [];
    for (const waiter of this.appliedWaiters) {
      if (waiter.index <= applied) waiter.resolve();
      else still.push(waiter);
    }
    this.appliedWaiters = still;
  }

  /**
   * onRoleChange fails waiting client work when leadership is lost: a proposal may still
   * commit later (clients retry with the same session sequence, so it applies once).
   */
  onRoleChange(role: Role, leader: NodeId): void {
    const wasLeader = this.role === Role.Leader;
    this.role = role;
    this.leader = leader;
    if (wasLeader && role !== Role.Leader) {
      this.failAll(
        new StoreError(
          'LEADERSHIP_LOST',
          `lost leadership of group ${this.groupId}; the write may still apply`,
          leader,
        ),
      );
    }
  }

  /** failAll rejects every waiting proposal and read (leadership lost, or shutdown). */
  failAll(error: Error): void {
    for (const pending of this.proposals.values()) pending.reject(error);
    this.proposals.clear();
    for (const read of this.reads.values()) read.reject(error);
    this.reads.clear();
  }

  /** failWaiters rejects reads waiting for an applied index (shutdown). */
  failWaiters(error: Error): void {
    for (const waiter of this.appliedWaiters) waiter.reject(error);
    this.appliedWaiters = [];
  }

  /** expireReads drops read requests older than `keep` ids (their callers timed out). */
  dropRead(id: number): void {
    this.reads.delete(id);
  }

  private translate(error: unknown): Error {
    if (error instanceof NotLeaderError) {
      return new StoreError(
        'NOT_LEADER',
        `node is not the leader of group ${this.groupId}`,
        error.leaderHint,
      );
    }
    if (error instanceof Error && 'code' in error && error.code === 'PROPOSAL_DROPPED') {
      return new StoreError('PROPOSAL_DROPPED', error.message, this.leader);
    }
    return error instanceof Error ? error : new Error(String(error));
  }
}
