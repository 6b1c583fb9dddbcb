/**
 * TaskClient: the store side of stream tasks, over the same machinery as StrataClient (ring
 * discovery, leader routing, pipelined Batch streams, session lanes, retries within a deadline).
 * A task operation travels as a Txn whose `task` field carries it (kv.proto): the server
 * proposes it as its own command and the state machine checks it when it is applied.
 *
 *   acquire(taskId, owner)  one Raft command: epoch + 1; returns the last checkpoint
 *   commit(request)         one checkpoint (fenced by epoch, ordered by seq)
 *   stage(request)          one chunk of a checkpoint too big for one entry
 *   getCheckpoint(taskId)   reads and decodes the task record (any consistency)
 *   get / scan              reads of the task's keys, e.g. at an index >= its snapshot index
 *
 * A refused operation throws FencedError or TaskProtocolError (task-errors.ts); a deadline
 * throws the client's usual errors, `indeterminate` when a write may have been applied: retry a
 * commit with the same seq, the store answers a repeat from the record.
 */
import { EMPTY_BYTES, type GroupId } from '../raft/index.js';
import { decodeTaskMeta } from '../store/kv-codec.js';
import {
  checkAcquireTask,
  checkCommitCheckpoint,
  checkStageCheckpoint,
  checkTaskId,
} from '../store/kv-limits.js';
import { taskMetaKey } from '../store/kv-tasks.js';
import type {
  AcquireTaskResponse,
  CommitCheckpointRequest,
  CommitCheckpointResponse,
  KeyValue,
  RangeRequest,
  StageCheckpointRequest,
  StageCheckpointResponse,
  TaskMeta,
  TaskRequest,
  TaskResponse,
} from '../store/kv-types.js';
import { CallContext } from './call-context.js';
import { ChannelPool } from './channels.js';
import { connectCluster, type CallOptions, type ConnectOptions } from './client.js';
import { ClosedError, UnavailableError } from './errors.js';
import { Executor, type Answer } from './executor.js';
import { checked, rangeRequest, type Consistency } from './requests.js';
import { taskErrorOf } from './task-errors.js';

/**
 * TASK_ATTEMPT_TIMEOUT_MS_DEFAULT: how long one attempt waits for its answer before it is
 * retried elsewhere. Longer than StrataClient's 2 s: a checkpoint is a large write, and giving
 * up on a slow-but-alive leader only adds a retry (answered from the record) to its load.
 */
export const TASK_ATTEMPT_TIMEOUT_MS_DEFAULT = 10_000;

/** SCAN_PAGES_MAX bounds the pages one scan reads (with the default page: 10^7 keys). */
export const SCAN_PAGES_MAX = 1_000;

/** ScanSelection picks keys: a prefix, or [start, end) (end not empty). */
export type ScanSelection = { prefix: Uint8Array } | { start: Uint8Array; end: Uint8Array };

/** ReadOptions bound a read and say how fresh it must be (default linearizable). */
export interface ReadOptions extends CallOptions {
  consistency?: Consistency;
}

/** TaskClient talks to a Strata cluster on behalf of stream tasks. */
export class TaskClient {
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

  /** TaskClient.connect discovers the cluster from its endpoints, as StrataClient.connect. */
  static async connect(options: ConnectOptions): Promise<TaskClient> {
    const connected = await connectCluster(options, TASK_ATTEMPT_TIMEOUT_MS_DEFAULT);
    const { pool, executor, clusterId, deadlineMs } = connected;
    return new TaskClient(pool, executor, clusterId, deadlineMs);
  }

  /** groupOfTask returns the group that holds the task; InvalidArgumentError if it cannot. */
  groupOfTask(taskId: string): number {
    checked(() => checkTaskId(taskId, 'task'));
    return this.#executor.router.groupOf(taskMetaKey(taskId));
  }

  /** leaderOf returns the cached leader of a group (0 when unknown). */
  leaderOf(groupId: number): number {
    return this.#executor.router.leaderOf(groupId as GroupId);
  }

  /** acquire makes `owner` the task's owner: a new epoch, and the last checkpoint. */
  async acquire(
    taskId: string,
    owner: string,
    options: CallOptions = {},
  ): Promise<AcquireTaskResponse> {
    const acquire = { taskId, owner };
    checked(() => checkAcquireTask(acquire));
    const answer = await this.#task('acquire', taskId, { type: 'acquire', acquire }, options);
    return expectTask(answer, 'acquire').acquire;
  }

  /** commit sends one checkpoint; see CommitCheckpointRequest in kv.proto for the rules. */
  async commit(
    request: CommitCheckpointRequest,
    options: CallOptions = {},
  ): Promise<CommitCheckpointResponse> {
    checked(() => checkCommitCheckpoint(request));
    const task: TaskRequest = { type: 'commit', commit: request };
    const answer = await this.#task('commit checkpoint', request.taskId, task, options);
    return expectTask(answer, 'commit').commit;
  }

  /** stage stores one chunk of a large checkpoint, promoted by the commit of its seq. */
  async stage(
    request: StageCheckpointRequest,
    options: CallOptions = {},
  ): Promise<StageCheckpointResponse> {
    checked(() => checkStageCheckpoint(request));
    const task: TaskRequest = { type: 'stage', stage: request };
    const answer = await this.#task('stage checkpoint', request.taskId, task, options);
    return expectTask(answer, 'stage').stage;
  }

  /** getCheckpoint reads the task's record (null if it was never acquired). */
  async getCheckpoint(taskId: string, options: ReadOptions = {}): Promise<TaskMeta | null> {
    this.groupOfTask(taskId);
    const kv = await this.get(taskMetaKey(taskId), options);
    return kv === null ? null : decodeTaskMeta(kv.value);
  }

  /** get reads one key; null when it is absent. */
  async get(key: Uint8Array, options: ReadOptions = {}): Promise<KeyValue | null> {
    const request = rangeRequest({ key, rangeEnd: EMPTY_BYTES, prefix: false }, options);
    const page = await this.#range('get', key, request, options);
    return page.kvs[0] ?? null;
  }

  /**
   * scan reads the keys of a selection, a prefix or [start, end), which must stay in one group
   * (fixed by a `{hash tag}`), in pages; at most `keysMax` keys (default: up to SCAN_PAGES_MAX
   * pages).
   */
  async scan(
    selection: ScanSelection,
    options: ReadOptions & { keysMax?: number } = {},
  ): Promise<KeyValue[]> {
    const keysMax = options.keysMax ?? Number.MAX_SAFE_INTEGER;
    const wire =
      'prefix' in selection
        ? { key: selection.prefix, rangeEnd: EMPTY_BYTES, prefix: true }
        : { key: selection.start, rangeEnd: selection.end, prefix: false };
    const base = rangeRequest(wire, options);
    const kvs: KeyValue[] = [];
    let pageToken = EMPTY_BYTES;
    for (let page = 0; page < SCAN_PAGES_MAX && kvs.length < keysMax; page++) {
      const limit = Math.min(keysMax - kvs.length, 10_000);
      const answer = await this.#range('scan', wire.key, { ...base, limit, pageToken }, options);
      for (const kv of answer.kvs) kvs.push(kv);
      if (!answer.more) return kvs;
      pageToken = answer.nextPageToken;
    }
    return kvs;
  }

  /**
   * listTaskIds finds every task with a record, by a keys-only scan of `{task:` in every
   * group (at most `keysMax` keys looked at, default 1,000,000), sorted.
   */
  async listTaskIds(options: CallOptions & { keysMax?: number } = {}): Promise<string[]> {
    const keysMax = options.keysMax ?? 1_000_000;
    const prefix = new TextEncoder().encode('{task:');
    const decoder = new TextDecoder();
    const found: string[] = [];
    let looked = 0;
    for (let group = 1; group <= this.#executor.router.groupCount; group++) {
      const base = rangeRequest(
        { key: prefix, rangeEnd: EMPTY_BYTES, prefix: true },
        {
          consistency: 'serializable',
          keysOnly: true,
        },
      );
      let pageToken = EMPTY_BYTES;
      for (let page = 0; page < SCAN_PAGES_MAX && looked < keysMax; page++) {
        const request = { ...base, limit: 10_000, pageToken };
        const answer = await this.#range('list tasks', prefix, request, options, group as GroupId);
        looked += answer.kvs.length;
        for (const kv of answer.kvs) {
          const key = decoder.decode(kv.key);
          const match = /^\{task:([^{}]+)\}\/meta$/.exec(key);
          if (match) found.push(match[1]!);
        }
        if (!answer.more) break;
        pageToken = answer.nextPageToken;
      }
    }
    return found.sort();
  }

  /** close fails calls in flight and closes every connection. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#executor.close();
    this.#pool.close();
  }

  async #task(
    what: string,
    taskId: string,
    task: TaskRequest,
    options: CallOptions,
  ): Promise<Answer> {
    const groupId = this.groupOfTask(taskId) as GroupId;
    try {
      return await this.#call(`${what} (task ${taskId})`, options, (ctx) =>
        this.#executor.run(
          {
            what: `${what} (task ${taskId})`,
            groupId,
            write: true,
            build: (header) => ({
              type: 'txn',
              txn: { compare: [], success: [], failure: [], task, header },
            }),
          },
          ctx,
        ),
      );
    } catch (error) {
      throw taskErrorOf(taskId, error);
    }
  }

  async #range(
    what: string,
    key: Uint8Array,
    request: RangeRequest,
    options: CallOptions,
    group?: GroupId,
  ) {
    const groupId = group ?? this.#executor.router.groupOf(key);
    const answer = await this.#call(what, options, (ctx) =>
      this.#executor.run(
        {
          what,
          groupId,
          write: false,
          build: (header) => ({ type: 'range', range: { ...request, header } }),
        },
        ctx,
      ),
    );
    if (answer.type !== 'range') {
      throw new UnavailableError(`expected a range answer, the node sent a ${answer.type}`);
    }
    return answer.range;
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
}

/** expectTask narrows an answer to the task result asked for (a server bug otherwise). */
function expectTask<K extends TaskResponse['type']>(
  answer: Answer,
  type: K,
): Extract<TaskResponse, { type: K }> {
  const task = answer.type === 'txn' ? answer.txn.task : null;
  if (task == null || task.type !== type) {
    throw new UnavailableError(`expected a task ${type} answer, the node sent ${answer.type}`);
  }
  return task as Extract<TaskResponse, { type: K }>;
}
