/**
 * SmTaskStore (tests only): a TaskStore over a real KvStateMachine in this process, one group,
 * each operation one log entry, so task instances can be tested without a cluster. It injects
 * the failures a real cluster shows: a commit or stage that fails before it is applied
 * (unavailable), or after (a timeout: indeterminate), chosen by a seeded random source.
 */
import { EMPTY_BYTES, EntryType, type GroupId } from '../raft/index.js';
import { encodeCommand } from '../store/kv-codec.js';
import {
  ReadConsistency,
  type AcquireTaskResponse,
  type CommandOp,
  type CommandResponse,
  type CommitCheckpointRequest,
  type CommitCheckpointResponse,
  type KeyValue,
  type RangeRequest,
  type StageCheckpointRequest,
  type StageCheckpointResponse,
} from '../store/kv-types.js';
import type { KvStateMachine } from '../store/sm-state-machine.js';
import { DeadlineExceededError, UnavailableError, errorFromStatus } from './errors.js';
import { taskErrorOf } from './task-errors.js';
import type { TaskStore } from './task-instance.js';
import type { OutputSink, PublishRecord } from './task-relay.js';

const GROUP = 1 as GroupId;

/** FaultRates are the chances (0..1) of each injected failure per write. */
export interface FaultRates {
  beforeApply: number;
  afterApply: number;
}

/** SmTaskStore is the in-process TaskStore (see the module comment). */
export class SmTaskStore implements TaskStore {
  readonly machine: KvStateMachine;
  faults: FaultRates = { beforeApply: 0, afterApply: 0 };
  /** commits counts the commit entries that were applied (retries included). */
  commits = 0;
  #index = 0;
  #chain: Promise<unknown> = Promise.resolve();
  readonly #random: () => number;

  constructor(machine: KvStateMachine, random: () => number = Math.random) {
    this.machine = machine;
    this.#random = random;
  }

  /** index is the last applied index. */
  get index(): number {
    return this.#index;
  }

  acquire(taskId: string, owner: string): Promise<AcquireTaskResponse> {
    const op: CommandOp = { type: 'acquireTask', acquireTask: { taskId, owner } };
    return this.#write(taskId, op, false).then(
      (r) => (r as { acquireTask: AcquireTaskResponse }).acquireTask,
    );
  }

  commit(request: CommitCheckpointRequest): Promise<CommitCheckpointResponse> {
    const op: CommandOp = { type: 'commitCheckpoint', commitCheckpoint: request };
    this.commits++;
    return this.#write(request.taskId, op, true).then(
      (r) => (r as { commitCheckpoint: CommitCheckpointResponse }).commitCheckpoint,
    );
  }

  stage(request: StageCheckpointRequest): Promise<StageCheckpointResponse> {
    const op: CommandOp = { type: 'stageCheckpoint', stageCheckpoint: request };
    return this.#write(request.taskId, op, true).then(
      (r) => (r as { stageCheckpoint: StageCheckpointResponse }).stageCheckpoint,
    );
  }

  async get(
    key: Uint8Array,
    options: { consistency: { atIndex: number } },
  ): Promise<KeyValue | null> {
    this.#checkIndex(options.consistency.atIndex);
    const page = await this.machine.range(GROUP, rangeOf(key, false, EMPTY_BYTES));
    return page.kvs[0] ?? null;
  }

  async scan(
    selection: { prefix: Uint8Array } | { start: Uint8Array; end: Uint8Array },
    options: { consistency: { atIndex: number }; keysMax?: number },
  ): Promise<KeyValue[]> {
    this.#checkIndex(options.consistency.atIndex);
    const request =
      'prefix' in selection
        ? rangeOf(selection.prefix, true, EMPTY_BYTES)
        : rangeOf(selection.start, false, selection.end);
    const kvs: KeyValue[] = [];
    for (let page = 0; page < 1_000; page++) {
      const answer = await this.machine.range(GROUP, request);
      for (const kv of answer.kvs) kvs.push(kv);
      if (!answer.more || kvs.length >= (options.keysMax ?? Infinity)) break;
      request.pageToken = answer.nextPageToken;
    }
    return kvs.slice(0, options.keysMax ?? kvs.length);
  }

  #checkIndex(atIndex: number): void {
    if (atIndex > this.#index) throw new Error(`read at ${atIndex}, applied only ${this.#index}`);
  }

  /** #write applies one command as the next entry (serialized), with injected faults. */
  #write(taskId: string, op: CommandOp, faulty: boolean): Promise<CommandResponse> {
    const run = this.#chain.then(async () => {
      if (faulty && this.#random() < this.faults.beforeApply) {
        throw new UnavailableError('injected: the node is unavailable');
      }
      const index = ++this.#index;
      const data = encodeCommand({ clientId: 0, seq: 0, op });
      const [result] = await this.machine.applyEntries(GROUP, [
        { index, type: EntryType.Normal, data },
      ]);
      if (faulty && this.#random() < this.faults.afterApply) {
        throw new DeadlineExceededError('injected: no answer in time', { indeterminate: true });
      }
      if (result!.type === 'error') {
        const { code, message, limit } = result!.error;
        throw taskErrorOf(taskId, errorFromStatus({ code, message, limit }, op.type));
      }
      if (result!.type !== 'response') throw new Error('no response');
      return result!.response;
    });
    this.#chain = run.catch(() => undefined);
    return run;
  }
}

function rangeOf(key: Uint8Array, prefix: boolean, rangeEnd: Uint8Array): RangeRequest {
  return {
    key,
    rangeEnd,
    prefix,
    limit: 0,
    pageToken: EMPTY_BYTES,
    consistency: ReadConsistency.Serializable,
    minIndex: 0,
    keysOnly: false,
    countOnly: false,
    header: null,
  };
}

/** MemorySink (tests only) is an OutputSink that keeps what it publishes, failing on demand. */
export class MemorySink implements OutputSink {
  readonly published: PublishRecord[] = [];
  failRate = 0;
  readonly #random: () => number;

  constructor(random: () => number = Math.random) {
    this.#random = random;
  }

  async publish(records: readonly PublishRecord[]): Promise<void> {
    if (this.#random() < this.failRate) throw new Error('injected: the broker is unavailable');
    for (const record of records) this.published.push(record);
  }
}
