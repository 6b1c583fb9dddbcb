/**
 * TaskInstance: one running instance of a stream task (one input partition), independent of
 * Kafka (the runtime feeds it records and publishes its output), so it is tested with fakes.
 *
 * Life: start() acquires the task (a new epoch fences every older instance), restores the
 * recorded next offset and re-publishes what the outbox still holds; then records are processed
 * one at a time, in a serial queue shared with checkpoint cuts, so a cut always falls between
 * records and its offsets match its writes exactly. A cut swaps in a fresh write buffer and
 * sends the frozen one as one checkpoint while processing goes on; one checkpoint is in flight
 * at a time (a second cut waits for the first). A timeout is retried with the same seq. FENCED
 * stops the instance for good (state 'fenced'); any other failure stops it too ('failed'), and
 * the runtime starts a fresh instance, which restores from the last checkpoint.
 */
import type {
  AcquireTaskResponse,
  CommitCheckpointResponse,
  TaskOffset,
} from '../store/kv-types.js';
import type { CallOptions } from './client.js';
import {
  checkpointOps,
  planCheckpoint,
  sendCheckpoint,
  withRetries,
  type CheckpointSender,
  type Cut,
} from './task-checkpoint.js';
import { FencedError, TaskProcessError } from './task-errors.js';
import { outboxRecordBytes, taskKeys, type OutboxRecord, type TaskKeys } from './task-keys.js';
import { Relay, type OutputSink } from './task-relay.js';
import { StateLayers, type StateReader } from './task-state.js';
import { toBytes } from './keys.js';
import type {
  CheckpointOptions,
  InputRecord,
  OnProcessError,
  OutputRecord,
  StreamTask,
  TaskContext,
  TaskFailpoint,
} from './task-types.js';

/** CHECKPOINT_DEFAULTS are the defaults of CheckpointOptions. */
export const CHECKPOINT_DEFAULTS: Readonly<Required<CheckpointOptions>> = Object.freeze({
  intervalMs: 1_000,
  maxBytes: 1024 * 1024,
  maxRecords: 100_000,
  deadlineMs: 60_000,
  attemptDeadlineMs: 10_000,
});

/** InstanceState is where an instance is in its life. */
export type InstanceState =
  'new' | 'starting' | 'running' | 'closing' | 'closed' | 'fenced' | 'failed';

/** TaskStore is what an instance needs of the store (a TaskClient fits). */
export interface TaskStore extends StateReader, CheckpointSender {
  acquire(taskId: string, owner: string, options?: CallOptions): Promise<AcquireTaskResponse>;
}

/** CheckpointInfo describes one committed checkpoint (for hooks, status and benchmarks). */
export interface CheckpointInfo {
  taskId: string;
  epoch: number;
  seq: number;
  snapshotIndex: number;
  offsets: TaskOffset[];
  bytes: number;
  ops: number;
  records: number;
  stagedChunks: number;
  durationMs: number;
  deduplicated: boolean;
}

/** InstanceHooks let the runtime and tests observe an instance. */
export interface InstanceHooks {
  /** failpoint is called at the named places (a test may kill the process there). */
  failpoint?(name: TaskFailpoint, taskId: string): void;
  onCheckpoint?(info: CheckpointInfo): void;
  /** onStopped is called once when the instance is fenced or fails. */
  onStopped?(instance: TaskInstance, error: Error): void;
}

/** TaskInstanceOptions configure one instance. */
export interface TaskInstanceOptions {
  taskId: string;
  topic: string;
  partition: number;
  owner: string;
  task: StreamTask;
  store: TaskStore;
  sink: OutputSink;
  checkpoint?: CheckpointOptions;
  onProcessError?: OnProcessError;
  hooks?: InstanceHooks;
  /** earliestOffset gives the first offset to read when the task has no checkpoint yet. */
  earliestOffset?: () => Promise<number>;
  cacheEntriesMax?: number;
}

/** TaskInstanceStatus is a snapshot of an instance's progress. */
export interface TaskInstanceStatus {
  taskId: string;
  state: InstanceState;
  epoch: number;
  seq: number;
  snapshotIndex: number;
  nextOffset: number | null;
  committedOffset: number | null;
  bufferedKeys: number;
  bufferedBytes: number;
  lastCheckpoint: CheckpointInfo | null;
  failure: string | null;
}

/** TaskInstance runs one task instance (see the module comment). */
export class TaskInstance {
  readonly taskId: string;
  readonly topic: string;
  readonly partition: number;
  readonly #options: TaskInstanceOptions;
  readonly #checkpoint: Required<CheckpointOptions>;
  readonly #keys: TaskKeys;
  readonly #layers: StateLayers;
  readonly #relay: Relay;
  readonly #context: TaskContext;
  #state: InstanceState = 'new';
  #failure: Error | null = null;
  #readFailure: unknown = null;
  #ready: Promise<void> | null = null;
  #queue: Promise<void> = Promise.resolve();
  #inFlight: Promise<void> | null = null;
  #epoch = 0;
  /** #lastSeq is the seq of the last committed checkpoint. */
  #lastSeq = 0;
  #nextOffset: number | null = null;
  #committedOffset: number | null = null;
  #trimmedSeq = 0;
  /** #outboxHighSeq is the highest committed seq that wrote outbox records (0: none). */
  #outboxHighSeq = 0;
  #emits: OutboxRecord[] = [];
  #emitBytes = 0;
  #recordEmits: OutboxRecord[] = [];
  #recordsSinceCut = 0;
  #lastCutAt = Date.now();
  #lastDurationMs = 0;
  #lastCheckpoint: CheckpointInfo | null = null;

  constructor(options: TaskInstanceOptions) {
    this.#options = options;
    this.taskId = options.taskId;
    this.topic = options.topic;
    this.partition = options.partition;
    this.#checkpoint = { ...CHECKPOINT_DEFAULTS, ...options.checkpoint };
    this.#keys = taskKeys(options.taskId);
    this.#layers = new StateLayers(this.#keys, this.#watchedReader(), options.cacheEntriesMax);
    const stopped = () => this.#state === 'fenced' || this.#state === 'failed';
    this.#relay = new Relay(options.taskId, options.sink, stopped);
    this.#context = {
      taskId: options.taskId,
      topic: options.topic,
      partition: options.partition,
      state: this.#layers,
      emit: (topic, record) => this.#recordEmits.push(outboxRecordOf(topic, record)),
    };
  }

  /** state is where the instance is in its life. */
  get state(): InstanceState {
    return this.#state;
  }

  /** failure is why the instance stopped (fenced or failed), else null. */
  get failure(): Error | null {
    return this.#failure;
  }

  /** nextOffset is the next input offset to process (null before start or with no input). */
  get nextOffset(): number | null {
    return this.#nextOffset;
  }

  /** start acquires and restores the task; resolves when records may be processed. */
  start(): Promise<void> {
    this.#ready ??= this.#start();
    return this.#ready;
  }

  /** processRecords processes records in order (offsets below nextOffset are skipped). */
  processRecords(
    records: readonly InputRecord[],
    control: { shouldStop: () => boolean; onProcessed: (offset: number) => void },
  ): Promise<void> {
    return this.#enqueue(async () => {
      for (const record of records) {
        if (this.#state !== 'running' || control.shouldStop()) return;
        if (this.#nextOffset !== null && record.offset < this.#nextOffset) {
          control.onProcessed(record.offset);
          continue;
        }
        await this.#processOne(record);
        if (this.#state !== 'running') return;
        control.onProcessed(record.offset);
        if (this.#boundReached()) await this.#cut();
      }
    });
  }

  /** requestCheckpoint cuts a checkpoint between records if anything changed. */
  requestCheckpoint(): Promise<void> {
    return this.#enqueue(() => this.#cut());
  }

  /** checkpointInFlight resolves when no checkpoint is in flight. */
  async settled(): Promise<void> {
    await this.#queue;
    await this.#inFlight;
  }

  /**
   * close checkpoints what it can, waits for it and for the relay (at most `timeoutMs`), and
   * stops the instance. Idempotent.
   */
  async close(timeoutMs = this.#checkpoint.deadlineMs): Promise<void> {
    if (this.#state === 'running') {
      this.#state = 'closing';
      const work = (async () => {
        await this.#enqueue(() => this.#cut());
        await this.#inFlight;
        await this.#relay.flush();
      })();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
      await Promise.race([work.catch(() => undefined), timeout]);
      clearTimeout(timer);
    }
    if (this.#state === 'closing' || this.#state === 'new' || this.#state === 'starting') {
      this.#state = 'closed';
    }
  }

  /** status returns the instance's progress. */
  status(): TaskInstanceStatus {
    return {
      taskId: this.taskId,
      state: this.#state,
      epoch: this.#epoch,
      seq: this.#lastSeq,
      snapshotIndex: this.#layers.readIndex,
      nextOffset: this.#nextOffset,
      committedOffset: this.#committedOffset,
      bufferedKeys: this.#layers.buffer.size,
      bufferedBytes: this.#layers.buffer.bytes + this.#emitBytes,
      lastCheckpoint: this.#lastCheckpoint,
      failure: this.#failure?.message ?? null,
    };
  }

  async #start(): Promise<void> {
    const { store, taskId, owner } = this.#options;
    this.#state = 'starting';
    try {
      const deadline = Date.now() + this.#checkpoint.deadlineMs;
      const retry = {
        attemptDeadlineMs: this.#checkpoint.attemptDeadlineMs,
        stopped: () => this.#state !== 'starting',
      };
      const acquired = await withRetries('acquire', deadline, retry, (attempt) =>
        store.acquire(taskId, owner, attempt),
      );
      this.#options.hooks?.failpoint?.('after-acquire', taskId);
      this.#epoch = acquired.epoch;
      this.#lastSeq = acquired.seq;
      this.#layers.readIndex = acquired.snapshotIndex;
      const recorded = acquired.offsets.find(
        (o) => o.topic === this.topic && o.partition === this.partition,
      );
      this.#committedOffset = recorded?.nextOffset ?? null;
      this.#nextOffset = recorded?.nextOffset ?? (await this.#options.earliestOffset?.()) ?? null;
      this.#outboxHighSeq = await this.#relay.restore(store, this.#keys, acquired.snapshotIndex);
      // Closed (revoked) or stopped while starting: stay so.
      if (this.#state !== 'starting') return;
      this.#state = 'running';
      await this.#options.task.init?.(this.#context);
      this.#acceptRecord();
    } catch (error) {
      this.#stop(error);
      throw error;
    }
  }

  async #processOne(record: InputRecord): Promise<void> {
    this.#readFailure = null;
    try {
      await this.#options.task.process(record, this.#context);
    } catch (error) {
      this.#layers.abortRecord();
      this.#recordEmits = [];
      if (this.#readFailure !== null) {
        // The store failed under the task (not the task's own fault): restart the instance.
        this.#stop(this.#readFailure);
        return;
      }
      const failure = new TaskProcessError(this.taskId, record, error);
      const policy = this.#options.onProcessError ?? 'stop';
      if (policy === 'stop') {
        await this.#cut(); // what came before the bad record is kept
        await this.#inFlight;
        this.#stop(failure);
        return;
      }
      this.#recordEmits.push(deadLetterOf(policy.deadLetterTopic, record, failure));
    }
    this.#acceptRecord();
    this.#nextOffset = record.offset + 1;
    this.#recordsSinceCut++;
  }

  #acceptRecord(): void {
    this.#layers.commitRecord();
    for (const record of this.#recordEmits) {
      this.#emits.push(record);
      this.#emitBytes += outboxRecordBytes(record);
    }
    this.#recordEmits = [];
  }

  #boundReached(): boolean {
    const { maxBytes, maxRecords, intervalMs } = this.#checkpoint;
    return (
      this.#layers.buffer.bytes + this.#emitBytes >= maxBytes ||
      this.#recordsSinceCut >= maxRecords ||
      Date.now() - this.#lastCutAt >= intervalMs
    );
  }

  /** #cut cuts a checkpoint and sends it (runs in the queue, between records). */
  async #cut(): Promise<void> {
    if (this.#inFlight !== null) await this.#inFlight;
    if (this.#state !== 'running' && this.#state !== 'closing') return;
    if (this.#relay.failure !== null) return this.#stop(this.#relay.failure);
    // Trim what is published, once: a trim-only checkpoint writes no outbox of its own.
    const trimTarget = Math.min(this.#relay.publishedSeq, this.#outboxHighSeq);
    const trimUpTo = trimTarget > this.#trimmedSeq ? trimTarget : 0;
    const offsetMoved = this.#nextOffset !== null && this.#nextOffset !== this.#committedOffset;
    const nothing = this.#layers.buffer.size === 0 && this.#emits.length === 0;
    if (nothing && !offsetMoved && trimUpTo === 0) return;
    this.#options.hooks?.failpoint?.('before-checkpoint', this.taskId);
    const offsets: TaskOffset[] =
      this.#nextOffset === null
        ? []
        : [{ topic: this.topic, partition: this.partition, nextOffset: this.#nextOffset }];
    const cut: Cut = {
      epoch: this.#epoch,
      seq: this.#lastSeq + 1,
      writes: this.#layers.freeze(),
      emits: this.#emits,
      offsets,
      trimUpTo,
      records: this.#recordsSinceCut,
      createdAtMs: Date.now(),
      previousDurationMs: this.#lastDurationMs,
    };
    this.#emits = [];
    this.#emitBytes = 0;
    this.#recordsSinceCut = 0;
    this.#lastCutAt = Date.now();
    const sending = this.#send(cut);
    this.#inFlight = sending;
    void sending.then(() => {
      if (this.#inFlight === sending) this.#inFlight = null;
    });
  }

  /** #send sends one cut; it never rejects (a failure stops the instance). */
  async #send(cut: Cut): Promise<void> {
    const started = performance.now();
    const { store, hooks } = this.#options;
    try {
      const plan = planCheckpoint(this.taskId, checkpointOps(this.#keys, cut));
      let sent = false;
      const response = await sendCheckpoint(store, this.taskId, cut, plan, {
        deadlineMs: this.#checkpoint.deadlineMs,
        attemptDeadlineMs: this.#checkpoint.attemptDeadlineMs,
        stopped: () => this.#closedForGood() || this.#state === 'closed',
        onSent: () => {
          if (sent) return;
          sent = true;
          setImmediate(() => hooks?.failpoint?.('during-checkpoint', this.taskId));
        },
      });
      hooks?.failpoint?.('after-store-commit', this.taskId);
      this.#committed(cut, response, plan.chunks.length, performance.now() - started, plan);
    } catch (error) {
      this.#stop(error);
    }
  }

  #committed(
    cut: Cut,
    response: CommitCheckpointResponse,
    stagedChunks: number,
    durationMs: number,
    plan: { bytes: number; ops: number },
  ): void {
    this.#lastSeq = cut.seq;
    if (cut.offsets.length > 0) this.#committedOffset = cut.offsets[0]!.nextOffset;
    if (cut.trimUpTo > 0) this.#trimmedSeq = cut.trimUpTo;
    if (cut.emits.length > 0) this.#outboxHighSeq = cut.seq;
    this.#layers.committed(response.snapshotIndex);
    this.#relay.enqueue(cut.seq, cut.emits);
    this.#lastDurationMs = Math.round(durationMs);
    this.#lastCheckpoint = {
      taskId: this.taskId,
      epoch: cut.epoch,
      seq: cut.seq,
      snapshotIndex: response.snapshotIndex,
      offsets: cut.offsets,
      bytes: plan.bytes,
      ops: plan.ops,
      records: cut.records,
      stagedChunks,
      durationMs,
      deduplicated: response.deduplicated,
    };
    this.#options.hooks?.onCheckpoint?.(this.#lastCheckpoint);
  }

  #stop(error: unknown): void {
    if (this.#closedForGood() || this.#state === 'closed') return;
    const failure = error instanceof Error ? error : new Error(String(error));
    this.#state = failure instanceof FencedError ? 'fenced' : 'failed';
    this.#failure = failure;
    this.#options.hooks?.onStopped?.(this, failure);
  }

  #closedForGood(): boolean {
    return this.#state === 'fenced' || this.#state === 'failed';
  }

  #enqueue<T>(job: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(job);
    this.#queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** #watchedReader notes store read failures (they are not the task's fault). */
  #watchedReader(): StateReader {
    const store = this.#options.store;
    const watch = <T>(promise: Promise<T>): Promise<T> =>
      promise.catch((error: unknown) => {
        this.#readFailure = error;
        throw error;
      });
    return {
      get: (key, options) => watch(store.get(key, options)),
      scan: (selection, options) => watch(store.scan(selection, options)),
    };
  }
}

/** outboxRecordOf turns an emitted record into its stored form. */
export function outboxRecordOf(topic: string, record: OutputRecord): OutboxRecord {
  if (typeof topic !== 'string' || topic.length === 0) {
    throw new RangeError('emit: the topic must be a non-empty string');
  }
  const headers: [string, Uint8Array][] = [];
  for (const [name, value] of Object.entries(record.headers ?? {})) {
    headers.push([name, toBytes(value)]);
  }
  return {
    topic,
    key: record.key == null ? null : toBytes(record.key),
    value: record.value == null ? null : toBytes(record.value),
    partition: record.partition ?? -1,
    headers,
  };
}

/** deadLetterOf is the dead-letter record of an input record process() threw on. */
function deadLetterOf(topic: string, record: InputRecord, failure: TaskProcessError): OutboxRecord {
  const encoder = new TextEncoder();
  return {
    topic,
    key: record.key,
    value: record.value,
    partition: -1,
    headers: [
      ['strata-error', encoder.encode(failure.message)],
      ['strata-source', encoder.encode(`${record.topic}/${record.partition}@${record.offset}`)],
    ],
  };
}
