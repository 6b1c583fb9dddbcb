/**
 * StrataClient: the thin client of a Strata cluster. It discovers the layout from any endpoint
 * (Admin.Cluster), routes each key to its group and the group's leader, pipelines requests over
 * one Batch stream per node (coalesced per tick), retries with back-off within each call's
 * deadline, and never applies a write twice (see executor.ts and lanes.ts).
 */
import { EMPTY_BYTES, type GroupId } from '../raft/index.js';
import type { ClusterLayout } from '../ring/index.js';
import { LIMITS } from '../store/kv-limits.js';
import { KvError } from '../store/kv-errors.js';
import type {
  DeleteRequest,
  KeyValue,
  RangeRequest,
  ResponseOp,
  TxnRequest,
} from '../store/kv-types.js';
import { decodeStatusResponse, encodeStatusRequest, type NodeStatus } from '../store/admin-codec.js';
import type { BackoffOptions } from './backoff.js';
import { CallContext, checkDeadlineMs } from './call-context.js';
import { ADMIN_STATUS_PATH, ChannelPool, grpcErrorText, unaryCall } from './channels.js';
import type { ConnectionOptions } from './connection.js';
import { checkEndpoints, discover } from './discovery.js';
import { ClosedError, InvalidArgumentError, StrataError, UnavailableError } from './errors.js';
import { Executor, type Answer, type Operation } from './executor.js';
import { tagScope, toBytes, type Key } from './keys.js';
import { RangeMerger } from './range-merge.js';
import {
  deleteRequest,
  putRequest,
  rangeRequest,
  selectionOf,
  txnGroupOf,
  txnRequest,
  type Consistency,
  type SelectionOptions,
  type TxnCompare,
  type TxnOp,
} from './requests.js';
import { Router } from './router.js';

/** DEADLINE_MS_DEFAULT is a call's deadline when neither the call nor connect sets one. */
export const DEADLINE_MS_DEFAULT = 5_000;

/** ConnectOptions configure StrataClient.connect. */
export interface ConnectOptions {
  /** endpoints are host:port addresses of any nodes of the cluster. */
  endpoints: string[];
  /** deadlineMs is the default deadline of every call, and of connect itself (5,000 ms). */
  deadlineMs?: number;
  /** laneMax bounds the client sessions, i.e. the writes in flight per group (1,024). */
  laneMax?: number;
  signal?: AbortSignal;
  /** attemptTimeoutMs fails one attempt without an answer, to retry elsewhere (2,000 ms). */
  attemptTimeoutMs?: number;
  backoff?: BackoffOptions;
}

/** CallOptions bound one call. */
export interface CallOptions {
  signal?: AbortSignal;
  deadlineMs?: number;
}

/** PutOptions are a put's options. */
export interface PutOptions extends CallOptions {
  /** prevKv asks for the key's previous KeyValue. */
  prevKv?: boolean;
}

/** PutResult is a put's outcome: the index of the entry that wrote it. */
export interface PutResult {
  index: number;
  prevKv: KeyValue | null;
}

/** GetOptions are a get's options. */
export interface GetOptions extends CallOptions {
  consistency?: Consistency;
}

/** DeleteOptions are a delete's options. */
export interface DeleteOptions extends CallOptions {
  prevKv?: boolean;
}

/** DeleteResult is a delete's outcome. */
export interface DeleteResult {
  deleted: number;
  index: number;
  prevKv: KeyValue | null;
}

/** RangeOptions select keys (prefix, or start/end) and bound the answer. */
export interface RangeOptions extends CallOptions, SelectionOptions {
  /** limit is the most keys returned (default and page size: LIMITS.rangeKeysMax). */
  limit?: number;
  consistency?: Consistency;
  keysOnly?: boolean;
}

/** RangeResult holds keys in order; `more` says keys remain past `limit`. */
export interface RangeResult {
  kvs: KeyValue[];
  more: boolean;
}

/** TxnOptions describe a txn: if every compare holds run `success`, else `failure`. */
export interface TxnOptions extends CallOptions {
  compare?: TxnCompare[];
  success?: TxnOp[];
  failure?: TxnOp[];
}

/** TxnResult says which branch ran, with one response per op of it. */
export interface TxnResult {
  succeeded: boolean;
  index: number;
  responses: ResponseOp[];
}

/** ConnectedCluster is what connectCluster sets up for a client class. */
export interface ConnectedCluster {
  pool: ChannelPool;
  executor: Executor;
  clusterId: string;
  deadlineMs: number;
}

/**
 * connectCluster discovers the cluster from its endpoints (Admin.Cluster, trying them in turn
 * until the deadline), builds the ring, seeds the leader cache and returns the executor that
 * StrataClient and TaskClient run their calls on. `attemptTimeoutMsDefault` applies when the
 * options give none.
 */
export async function connectCluster(
  options: ConnectOptions,
  attemptTimeoutMsDefault?: number,
): Promise<ConnectedCluster> {
  const endpoints = checkEndpoints(options.endpoints);
  const deadlineMs = checkDeadlineMs(options.deadlineMs ?? DEADLINE_MS_DEFAULT);
  const pool = new ChannelPool();
  const ctx = new CallContext('connect', deadlineMs, options.signal);
  try {
    const found = await discover(endpoints, pool, ctx, { backoff: options.backoff });
    const router = new Router(found.layout, found.info.leaders);
    const connection: ConnectionOptions = {
      attemptTimeoutMs: options.attemptTimeoutMs ?? attemptTimeoutMsDefault,
    };
    const executor = new Executor(router, pool, {
      laneMax: options.laneMax,
      backoff: options.backoff,
      connection,
      endpoints,
      clusterId: found.info.clusterId,
    });
    return { pool, executor, clusterId: found.info.clusterId, deadlineMs };
  } catch (error) {
    pool.close();
    throw error;
  } finally {
    ctx.dispose();
  }
}

/** StrataClient talks to one Strata cluster. Create it with StrataClient.connect. */
export class StrataClient {
  /** clusterId is the id of the cluster the client is connected to. */
  readonly clusterId: string;
  readonly #pool: ChannelPool;
  readonly #executor: Executor;
  readonly #deadlineMs: number;
  #closed = false;

  private constructor(pool: ChannelPool, executor: Executor, clusterId: string, deadline: number) {
    this.#pool = pool;
    this.#executor = executor;
    this.clusterId = clusterId;
    this.#deadlineMs = deadline;
  }

  /**
   * StrataClient.connect discovers the cluster from its endpoints (Admin.Cluster, trying them
   * in turn until the deadline), builds the ring and seeds the leader cache.
   */
  static async connect(options: ConnectOptions): Promise<StrataClient> {
    const { pool, executor, clusterId, deadlineMs } = await connectCluster(options);
    return new StrataClient(pool, executor, clusterId, deadlineMs);
  }

  /** put writes `value` under `key`. */
  async put(key: Key, value: Key, options: PutOptions = {}): Promise<PutResult> {
    const request = putRequest(key, value, options.prevKv === true);
    const answer = await this.#call('put', options, (ctx) =>
      this.#executor.run(
        this.#op('put', request.key, true, (header) => ({
          type: 'put',
          put: { ...request, header },
        })),
        ctx,
      ),
    );
    const put = expect(answer, 'put').put;
    return { index: put.header.appliedIndex, prevKv: put.prevKv };
  }

  /** get reads one key (linearizable unless asked otherwise); null when it is absent. */
  async get(key: Key, options: GetOptions = {}): Promise<KeyValue | null> {
    const selection = { key: toBytes(key), rangeEnd: EMPTY_BYTES, prefix: false };
    const request = rangeRequest(selection, { consistency: options.consistency });
    const answer = await this.#call('get', options, (ctx) =>
      this.#executor.run(this.#rangeOp('get', request.key, request), ctx),
    );
    return expect(answer, 'range').range.kvs[0] ?? null;
  }

  /** delete deletes one key; `deleted` is 0 when it was absent. */
  async delete(key: Key, options: DeleteOptions = {}): Promise<DeleteResult> {
    const request: DeleteRequest = deleteRequest(key, options.prevKv === true);
    const answer = await this.#call('delete', options, (ctx) =>
      this.#executor.run(
        this.#op('delete', request.key, true, (header) => ({
          type: 'delete',
          delete: { ...request, header },
        })),
        ctx,
      ),
    );
    const result = expect(answer, 'delete').delete;
    const prevKv = result.prevKvs[0] ?? null;
    return { deleted: result.deleted, index: result.header.appliedIndex, prevKv };
  }

  /**
   * range reads keys in order: a prefix (no options: every key), or [start, end). A selection
   * fixed by a `{hash tag}` reads its one group; any other reads every group and merges.
   */
  async range(options: RangeOptions = {}): Promise<RangeResult> {
    const limit = options.limit ?? LIMITS.rangeKeysMax;
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new InvalidArgumentError(`range: limit must be a positive integer, got ${limit}`);
    }
    const selection = selectionOf(options);
    const base = rangeRequest(selection, options);
    const scope = tagScope(selection);
    const router = this.#executor.router;
    const groups: GroupId[] = [];
    if (scope) groups.push(router.groupOf(scope));
    else for (let g = 1; g <= router.groupCount; g++) groups.push(g as GroupId);
    return this.#call('range', options, (ctx) => {
      const readers = groups.map((groupId) => (pageToken: Uint8Array | null, pageLimit: number) => {
        const request = { ...base, limit: pageLimit, pageToken: pageToken ?? EMPTY_BYTES };
        const op = this.#rangeOp(`range (group ${groupId})`, null, request, groupId);
        return this.#executor.run(op, ctx).then((answer) => expect(answer, 'range').range);
      });
      return new RangeMerger(readers, Math.min(limit, LIMITS.rangeKeysMax)).take(limit);
    });
  }

  /**
   * txn runs compares and ops atomically in one group: every key must map to the same group
   * (keep them under one `{hash tag}`); otherwise it throws InvalidArgumentError at once.
   */
  async txn(options: TxnOptions): Promise<TxnResult> {
    const request: TxnRequest = txnRequest(
      options.compare ?? [],
      options.success ?? [],
      options.failure ?? [],
    );
    const groupId = txnGroupOf(request, (key) => this.groupOf(key)) as GroupId;
    const answer = await this.#call('txn', options, (ctx) =>
      this.#executor.run(
        {
          what: 'txn',
          groupId,
          write: true,
          build: (header) => ({ type: 'txn', txn: { ...request, header } }),
        },
        ctx,
      ),
    );
    const txn = expect(answer, 'txn').txn;
    return { succeeded: txn.succeeded, index: txn.header.appliedIndex, responses: txn.responses };
  }

  /** groupOf returns the group that holds `key`. */
  groupOf(key: Key): number {
    return this.#executor.router.groupOf(key);
  }

  /** layout returns the cluster layout the client routes with (do not modify it). */
  layout(): ClusterLayout {
    return this.#executor.router.layout;
  }

  /** leaderOf returns the cached leader of a group (0 when unknown). */
  leaderOf(groupId: number): number {
    return this.#executor.router.leaderOf(groupId as GroupId);
  }

  /** status asks one node (default: the first of the layout) for its Admin.Status. */
  async status(endpoint?: string, options: CallOptions = {}): Promise<NodeStatus> {
    const address = endpoint ?? this.#executor.router.addresses()[0]!;
    return this.#call(`status of ${address}`, options, async (ctx) => {
      const call = unaryCall(this.#pool.get(address), ADMIN_STATUS_PATH, encodeStatusRequest(), {
        deadlineMs: Math.max(1, ctx.remainingMs()),
        signal: options.signal,
      });
      try {
        return decodeStatusResponse(await ctx.race(call));
      } catch (error) {
        if (error === ctx.failure) throw error;
        if (error instanceof KvError) {
          throw new StrataError(error.code, `status of ${address}: ${error.message}`);
        }
        throw new UnavailableError(`status of ${address}: ${grpcErrorText(error)}`, {
          cause: error,
        });
      }
    });
  }

  /** refreshLayout fetches the cluster layout again now (it is also refreshed on demand). */
  async refreshLayout(options: CallOptions = {}): Promise<ClusterLayout> {
    await this.#call('refresh layout', options, (ctx) => this.#executor.refreshLayout(ctx));
    return this.layout();
  }

  /** close fails calls in flight and closes every connection. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#executor.close();
    this.#pool.close();
  }

  async #call<T>(what: string, options: CallOptions, body: (ctx: CallContext) => Promise<T>) {
    if (this.#closed) throw new ClosedError();
    const ctx = new CallContext(what, options.deadlineMs ?? this.#deadlineMs, options.signal);
    try {
      return await body(ctx);
    } finally {
      ctx.dispose();
    }
  }

  #op(what: string, key: Uint8Array, write: boolean, build: Operation['build']): Operation {
    return { what, groupId: this.#executor.router.groupOf(key), write, build };
  }

  #rangeOp(
    what: string,
    key: Uint8Array | null,
    request: RangeRequest,
    groupId?: GroupId,
  ): Operation {
    const group = groupId ?? this.#executor.router.groupOf(key!);
    return {
      what,
      groupId: group,
      write: false,
      build: (header) => ({ type: 'range', range: { ...request, header } }),
    };
  }
}

/** expect narrows an answer to the kind the request asked for (a server bug otherwise). */
function expect<K extends Answer['type']>(answer: Answer, type: K): Extract<Answer, { type: K }> {
  if (answer.type !== type) {
    throw new UnavailableError(`expected a ${type} answer, the node sent a ${answer.type}`);
  }
  return answer as Extract<Answer, { type: K }>;
}
