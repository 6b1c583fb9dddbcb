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
  type Entry,
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

interface PendingRead {
  resolve: (index: Index) => void;
  reject: (error: Error) => void;
}

/** NO_WAITERS is the shared, never written, list of an idle group's applied waiters. */
const NO_WAITERS: readonly IndexWaiter[] = Object.freeze([]);

/**
 * GroupReplica holds one group's replica and its waiting client work. A node hosts thousands of
 * mostly idle groups, so the containers of client work are created by the first request that
 * needs one (null until then) and an empty waiter list is a shared constant.
 */
export class GroupReplica {
  readonly raw: RawNode;
  /** proposals maps the log index of a proposal to its waiting client (null: none yet). */
  private proposals: Map<Index, PendingProposal> | null = null;
  /** reads maps a read-index request id to its waiter, resolved with the read index. */
  private reads: Map<number, PendingRead> | null = null;
  /** appliedWaiters wait for the applied index to reach theirs (reads, at-index reads). */
  private appliedWaiters = NO_WAITERS as IndexWaiter[];
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
    return this.proposals?.size ?? 0;
  }

  /** propose appends a command and resolves with its outcome once applied. */
  propose(data: Uint8Array, pendingMax: number): Promise<ApplyResult> {
    const pending = this.pendingProposalCount();
    if (pending >= pendingMax) {
      return Promise.reject(
        new StoreError(
          'RESOURCE_EXHAUSTED',
          `group ${this.groupId} has ${pending} pending proposals, the limit pendingProposalsMax`,
        ),
      );
    }
    let placed: { index: Index; term: Term };
    try {
      placed = this.raw.propose(data);
    } catch (error) {
      return Promise.reject(this.translate(error));
    }
    return this.awaitProposal(placed);
  }

  /** awaitProposal registers the client of a proposal placed at (index, term). */
  private awaitProposal(placed: { index: Index; term: Term }): Promise<ApplyResult> {
    const proposals = (this.proposals ??= new Map());
    return new Promise((resolve, reject) => {
      proposals.set(placed.index, { term: placed.term, resolve, reject });
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
    return this.awaitProposal(placed);
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
    const reads = (this.reads ??= new Map());
    return new Promise((resolve, reject) => reads.set(id, { resolve, reject }));
  }

  /** onReadState resolves the read whose context is `context`. */
  onReadState(index: Index, context: Uint8Array): void {
    if (context.byteLength !== 8) return;
    const id = new DataView(context.buffer, context.byteOffset, 8).getFloat64(0);
    const reads = this.reads;
    const read = reads?.get(id);
    if (!reads || !read) return;
    reads.delete(id);
    if (reads.size === 0) this.reads = null;
    read.resolve(index);
  }

  /** waitApplied resolves once the applied index reaches `index`. */
  waitApplied(index: Index, applied: Index): Promise<void> {
    if (applied >= index) return Promise.resolve();
    if (this.appliedWaiters === NO_WAITERS) this.appliedWaiters = [];
    const waiters = this.appliedWaiters;
    return new Promise((resolve, reject) => {
      waiters.push({ index, resolve, reject });
    });
  }

  /**
   * onApplied resolves the proposals and waiters covered by newly applied results; `committed`
   * are the entries of the cycle (their terms tell a proposal that was replaced).
   */
  onApplied(results: readonly ApplyResult[], committed: readonly Entry[], applied: Index): void {
    const proposals = this.proposals;
    if (proposals !== null && committed.length > 0) {
      // committed holds consecutive indexes, so an entry's term is found by offset.
      const first = committed[0]!.index;
      for (const result of results) {
        const pending = proposals.get(result.index);
        if (!pending) continue;
        proposals.delete(result.index);
        if (committed[result.index - first]?.term === pending.term) pending.resolve(result);
        else
          pending.reject(
            new StoreError(
              'PROPOSAL_DROPPED',
              `entry ${result.index} was replaced by a new leader; retry`,
            ),
          );
      }
      if (proposals.size === 0) this.proposals = null;
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
    this.appliedWaiters = still.length > 0 ? still : (NO_WAITERS as IndexWaiter[]);
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
    const proposals = this.proposals;
    const reads = this.reads;
    this.proposals = null;
    this.reads = null;
    for (const pending of proposals?.values() ?? []) pending.reject(error);
    for (const read of reads?.values() ?? []) read.reject(error);
  }

  /** failWaiters rejects reads waiting for an applied index (shutdown). */
  failWaiters(error: Error): void {
    const waiters = this.appliedWaiters;
    this.appliedWaiters = NO_WAITERS as IndexWaiter[];
    for (const waiter of waiters) waiter.reject(error);
  }

  /** dropRead forgets the read request `id` (its caller timed out). */
  dropRead(id: number): void {
    this.reads?.delete(id);
    if (this.reads?.size === 0) this.reads = null;
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
