/**
 * Executor runs one request to completion: it routes it (key -> group -> leader cache or
 * preferred replica -> that node's connection), and retries failures as retry-policy.ts says,
 * with full-jitter back-off, within the call's deadline. A write holds one session lane for its
 * whole life, so every retry carries the same (client id, seq) and the store applies it once.
 */
import type { GroupId, NodeId } from '../raft/index.js';
import { LIMITS } from '../store/kv-limits.js';
import type { AnyRequest, AnyResponse, RequestHeader } from '../store/kv-types.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import type { CallContext } from './call-context.js';
import type { ChannelPool } from './channels.js';
import { NodeConnection, TransportError, type ConnectionOptions } from './connection.js';
import { discover } from './discovery.js';
import {
  ClosedError,
  ResourceExhaustedError,
  StrataError,
  UnavailableError,
  errorFromStatus,
} from './errors.js';
import { encodePiece } from './frames.js';
import { LanePool, type LaneLease } from './lanes.js';
import { TRANSPORT_FAILURE, retryRuleFor } from './retry-policy.js';
import type { Router } from './router.js';

/** ATTEMPTS_MAX bounds the attempts of one request (the deadline normally ends it first). */
export const ATTEMPTS_MAX = 1_000;
/** REDIRECTS_WITHOUT_WAIT: leader hints followed at once before back-off applies again. */
export const REDIRECTS_WITHOUT_WAIT = 3;
/** PIECE_OVERHEAD_BYTES: a piece's framing beyond the request (tags, lengths, request id). */
const PIECE_OVERHEAD_BYTES = 32;

/** decorated holds the call failures already given their details. */
const decorated = new WeakSet<StrataError>();

/** Operation is one request the executor runs: its group, and its wire form per header. */
export interface Operation {
  /** what names the operation in error messages ("put", "range group 7", ...). */
  what: string;
  groupId: GroupId;
  /** write: the request is proposed through Raft and needs a session lane. */
  write: boolean;
  build(header: RequestHeader): AnyRequest;
}

/** Answer is a successful response (any kind but error). */
export type Answer = Exclude<AnyResponse, { type: 'error' }>;

/** Failure is one failed attempt, from an ErrorStatus or a transport failure. */
interface Failure {
  code: string;
  message: string;
  limit: string;
  leaderId: number;
  /** sent is false when the request surely never reached a node. */
  sent: boolean;
  /** epoch is the answering node's layout epoch (0 without an answer). */
  epoch?: number;
  /** address is the node that answered ('' without an answer). */
  address?: string;
}

/** RetryState is one request's progress through its attempts. */
interface RetryState {
  target: NodeId;
  /** backoff is created at the first retry (most requests need none). */
  backoff: Backoff | null;
  wait: boolean;
  redirects: number;
  /** maybeApplied: an attempt of this write may have been applied. */
  maybeApplied: boolean;
  /** inFlight: an attempt is sent and unanswered (so a deadline now is indeterminate). */
  inFlight: boolean;
  /** sessionLost: the server lost the lane's session (the lane must not be reused). */
  sessionLost: boolean;
  last: Failure | null;
}

/** ExecutorOptions configure the executor. */
export interface ExecutorOptions {
  laneMax?: number;
  backoff?: BackoffOptions;
  connection?: ConnectionOptions;
  /** endpoints are asked for a new layout along with the known nodes. */
  endpoints: readonly string[];
  clusterId: string;
}

/** Executor owns the routing state, the lanes and the node connections of one client. */
export class Executor {
  /** router holds the layout and the leader cache. */
  readonly router: Router;
  /** lanes are the write sessions. */
  readonly lanes: LanePool;
  readonly #pool: ChannelPool;
  readonly #connections = new Map<string, NodeConnection>();
  readonly #options: ExecutorOptions;
  #refreshing: Promise<void> | null = null;
  #nextRequestId = 1;
  #closed = false;

  constructor(router: Router, pool: ChannelPool, options: ExecutorOptions) {
    this.router = router;
    this.#pool = pool;
    this.#options = options;
    this.lanes = new LanePool(options.laneMax);
  }

  /** connection returns the connection to `address`, opening it on first use. */
  connection(address: string): NodeConnection {
    if (this.#closed) throw new ClosedError();
    let connection = this.#connections.get(address);
    if (!connection) {
      const client = this.#pool.get(address);
      connection = new NodeConnection(address, client, this.#options.connection);
      this.#connections.set(address, connection);
    }
    return connection;
  }

  /** run executes `op` until it succeeds, fails for good, or the call's deadline passes. */
  async run(op: Operation, ctx: CallContext): Promise<Answer> {
    let lease = op.write ? await this.#leaseLane(op.groupId, ctx) : null;
    const retry: RetryState = {
      target: this.router.target(op.groupId),
      backoff: null,
      wait: false,
      redirects: 0,
      maybeApplied: false,
      inFlight: false,
      sessionLost: false,
      last: null,
    };
    let succeeded = false;
    try {
      for (let attempt = 1; attempt <= ATTEMPTS_MAX; attempt++) {
        if (retry.wait) {
          retry.backoff ??= new Backoff(this.#options.backoff);
          await ctx.sleep(retry.backoff.nextMs());
        }
        const outcome = await this.#attempt(op, lease, retry, ctx);
        if ('type' in outcome) {
          succeeded = true;
          return outcome;
        }
        lease = await this.#onFailure(op, lease, retry, outcome, ctx);
      }
      throw new UnavailableError(`${op.what}: no success in ${ATTEMPTS_MAX} attempts`);
    } catch (error) {
      throw this.#finalError(op, retry, ctx, error);
    } finally {
      if (lease) this.lanes.release(lease, succeeded, retry.sessionLost);
    }
  }

  /** #attempt sends the request once to retry.target and returns its answer or failure. */
  async #attempt(
    op: Operation,
    lease: LaneLease | null,
    retry: RetryState,
    ctx: CallContext,
  ): Promise<Answer | Failure> {
    if (this.#closed) throw new ClosedError();
    const header: RequestHeader = {
      groupId: op.groupId,
      epoch: this.router.epoch,
      clientId: lease?.clientId ?? 0,
      seq: lease?.seq ?? 0,
    };
    const requestId = this.#nextRequestId++;
    const piece = encodePiece(requestId, op.build(header));
    if (piece.length > LIMITS.requestBytesMax + PIECE_OVERHEAD_BYTES) {
      const message = `${op.what}: the encoded request is ${piece.length} bytes, above the limit`;
      throw new ResourceExhaustedError(`${message} requestBytesMax = ${LIMITS.requestBytesMax}`, {
        limit: 'requestBytesMax',
      });
    }
    const connection = this.connection(this.router.address(retry.target));
    retry.inFlight = true;
    try {
      const response = await ctx.race(connection.send(requestId, piece));
      retry.inFlight = false;
      if (response.type !== 'error') {
        this.#noteAnswer(op.groupId, response);
        return response;
      }
      const { code, message, limit, leaderId, epoch } = response.error;
      return { code, message, limit, leaderId, sent: true, epoch, address: connection.address };
    } catch (error) {
      if (!(error instanceof TransportError)) {
        connection.forget(requestId);
        throw error;
      }
      retry.inFlight = false;
      const message = error.message;
      return { code: TRANSPORT_FAILURE, message, limit: '', leaderId: 0, sent: error.sent };
    }
  }

  /** #onFailure decides the next attempt after a failure; throws when it is final. */
  async #onFailure(
    op: Operation,
    lease: LaneLease | null,
    retry: RetryState,
    failure: Failure,
    ctx: CallContext,
  ): Promise<LaneLease | null> {
    const rule = retryRuleFor(failure.code, failure.limit);
    if (op.write && failure.sent && rule.maybeApplied) retry.maybeApplied = true;
    retry.last = failure;
    retry.wait = true;
    const groupId = op.groupId;
    switch (rule.action) {
      case 'follow-leader':
        this.#followLeader(groupId, retry, failure.leaderId);
        return lease;
      case 'next-replica':
        this.router.forgetLeader(groupId, retry.target);
        retry.target = this.router.nextReplica(groupId, retry.target);
        return lease;
      case 'same-replica':
        return lease;
      case 'refresh-layout': {
        const epoch = this.router.epoch;
        // A node that said STALE_EPOCH has the newer layout: ask it first, and take no older.
        const hint =
          failure.code === 'STALE_EPOCH' && failure.address
            ? { address: failure.address, minEpoch: failure.epoch ?? 0 }
            : undefined;
        await this.refreshLayout(ctx, hint).catch(() => undefined);
        ctx.throwIfFailed();
        if (this.router.epoch === epoch && failure.code === 'WRONG_GROUP') {
          throw errorFromStatus(failure, op.what, op.write && retry.maybeApplied);
        }
        retry.target = this.router.target(groupId);
        return lease;
      }
      case 'session-lost':
        if (!lease || retry.maybeApplied) {
          retry.sessionLost = true;
          throw errorFromStatus(failure, op.what, op.write);
        }
        retry.wait = false;
        return this.lanes.renew(lease);
      case 'fail':
        throw errorFromStatus(failure, op.what, op.write && retry.maybeApplied);
      default:
        return rule.action satisfies never;
    }
  }

  /** #followLeader moves to the hinted leader, or to the next replica without a usable hint. */
  #followLeader(groupId: GroupId, retry: RetryState, hint: number): void {
    if (hint !== 0 && hint !== retry.target && this.router.noteLeader(groupId, hint)) {
      retry.target = hint as NodeId;
      retry.redirects++;
      retry.wait = retry.redirects > REDIRECTS_WITHOUT_WAIT;
      return;
    }
    this.router.forgetLeader(groupId, retry.target);
    retry.target = this.router.nextReplica(groupId, retry.target);
  }

  /** #noteAnswer caches the leader an answer names (a write's answer names its own node). */
  #noteAnswer(groupId: GroupId, response: Answer): void {
    const header =
      response.type === 'range'
        ? response.range.header
        : response.type === 'put'
          ? response.put.header
          : response.type === 'delete'
            ? response.delete.header
            : response.txn.header;
    if (header.leaderId !== 0) this.router.noteLeader(groupId, header.leaderId);
  }

  /** #finalError completes the error a request ends with (indeterminacy, last failure). */
  #finalError(op: Operation, retry: RetryState, ctx: CallContext, error: unknown): unknown {
    if (!(error instanceof StrataError)) return error;
    if (error === ctx.failure && !decorated.has(error)) {
      // One failure object ends every request of a call (a range's groups): decorate it once.
      decorated.add(error);
      error.indeterminate = op.write && (retry.maybeApplied || retry.inFlight);
      if (retry.last) error.message += ` (last failure: ${retry.last.code}: ${retry.last.message})`;
      if (error.indeterminate) error.message += '; the write may have been applied';
    }
    return error;
  }

  /** #leaseLane leases a session lane for a write, waiting within the call's deadline. */
  async #leaseLane(groupId: GroupId, ctx: CallContext): Promise<LaneLease> {
    const lease = this.lanes.tryAcquire(groupId);
    if (lease) return lease;
    let cancel: (() => void) | undefined;
    const pending = this.lanes.acquire(groupId, (c) => (cancel = c));
    try {
      return await ctx.race(pending);
    } catch (error) {
      cancel?.();
      void pending.then((late) => this.lanes.release(late, false));
      throw error;
    }
  }

  /**
   * refreshLayout fetches the layout again (one fetch at a time, shared by every caller) from
   * the known nodes and the configured endpoints, and installs it if its epoch is not older.
   */
  refreshLayout(ctx: CallContext, hint?: { address: string; minEpoch: number }): Promise<void> {
    this.#refreshing ??= (async () => {
      const first = hint ? [hint.address] : [];
      const endpoints = [
        ...new Set([...first, ...this.router.addresses(), ...this.#options.endpoints]),
      ];
      const found = await discover(endpoints, this.#pool, ctx, {
        clusterId: this.#options.clusterId,
        minEpoch: hint?.minEpoch,
      });
      this.router.update(found.layout, found.info.leaders);
    })().finally(() => (this.#refreshing = null));
    return ctx.race(this.#refreshing);
  }

  /** close fails every pending request and closes the connections. */
  close(): void {
    this.#closed = true;
    for (const connection of this.#connections.values()) connection.close();
    this.#connections.clear();
  }
}
