/**
 * The store benchmark's stream-task checkpoints, without Kafka: one TaskInstance over a
 * TaskClient, driven as StreamTaskRuntime drives one (processRecords, then a cut, one checkpoint
 * in flight), so a checkpoint takes the very path of a real task: the writes go through the
 * state layers, the cut turns them into CommitCheckpoint ops (staged chunks when too big), and
 * one entry commits them with the partition's next offset. Only the input is fabricated: one
 * record per checkpoint, whose process() puts the chosen keys and whose offset lies N - 1 past
 * the recorded next offset, so the offset grows by N per checkpoint, as after N records that
 * wrote one key each.
 */
import {
  TaskClient,
  TaskInstance,
  type InputRecord,
  type OutputSink,
  type StreamTask,
} from '../src/client/index.js';
import { BenchDataError } from './store-workloads.js';

/** TASK_TOPIC and TASK_PARTITION name the fabricated input; the task id follows from them. */
const TASK_TOPIC = 'bench-input';
const TASK_PARTITION = 0;
const TASK_ID = `bench.${TASK_TOPIC}.${TASK_PARTITION}`;
/** CLOSE_TIMEOUT_MS bounds close(): a checkpoint still in flight is not waited for longer. */
const CLOSE_TIMEOUT_MS = 2_000;

/** CheckpointerOptions say where the task's store is. */
export interface CheckpointerOptions {
  endpoints: string[];
  deadlineMs: number;
  signal: AbortSignal;
}

/** Batch is the writes of the next checkpoint: `value` under every key of `keys`. */
interface Batch {
  keys: readonly Uint8Array[];
  value: Uint8Array;
}

/** TaskCheckpointer owns the benchmark's task: acquired once, then one checkpoint per call. */
export class TaskCheckpointer {
  /** #batch is what the next record writes. Invariant: not null only inside checkpoint(). */
  #batch: Batch | null = null;
  readonly #client: TaskClient;
  readonly #instance: TaskInstance;

  private constructor(client: TaskClient) {
    this.#client = client;
    const sink: OutputSink = { publish: async () => undefined };
    this.#instance = new TaskInstance({
      taskId: TASK_ID,
      topic: TASK_TOPIC,
      partition: TASK_PARTITION,
      owner: 'bench',
      task: this.#writer(),
      store: client,
      sink,
      // No cut by interval or size: the benchmark cuts once per checkpoint() itself.
      checkpoint: { intervalMs: 3_600_000, maxBytes: Number.MAX_SAFE_INTEGER },
      earliestOffset: async () => 0,
    });
  }

  /** TaskCheckpointer.start connects and acquires the task (a new epoch), then restores it. */
  static async start(options: CheckpointerOptions): Promise<TaskCheckpointer> {
    const client = await TaskClient.connect(options);
    const checkpointer = new TaskCheckpointer(client);
    try {
      await checkpointer.#instance.start();
    } catch (error) {
      client.close();
      throw error;
    }
    return checkpointer;
  }

  /** checkpoint commits `value` under each of `keys` and the next offset as one checkpoint. */
  async checkpoint(keys: readonly Uint8Array[], value: Uint8Array): Promise<void> {
    const instance = this.#instance;
    const { seq, nextOffset } = instance.status();
    if (instance.state !== 'running' || nextOffset === null) {
      throw instance.failure ?? new Error(`task ${TASK_ID} is ${instance.state}`);
    }
    const offset = nextOffset + keys.length - 1;
    this.#batch = { keys, value };
    try {
      const control = { shouldStop: () => false, onProcessed: () => undefined };
      await instance.processRecords([inputRecord(offset)], control);
      await instance.requestCheckpoint();
      await instance.settled();
    } finally {
      this.#batch = null;
    }
    this.#checkCommitted(seq + 1, keys.length, offset + 1);
  }

  /** close closes the instance (nothing is left to checkpoint) and the client. Idempotent. */
  async close(): Promise<void> {
    await this.#instance.close(CLOSE_TIMEOUT_MS).catch(() => undefined);
    this.#client.close();
  }

  /** #writer is the task: each record puts the current batch, one put per key. */
  #writer(): StreamTask {
    return {
      process: (_record, context) => {
        const batch = this.#batch;
        if (batch === null) throw new Error('a record arrived outside checkpoint()');
        for (const key of batch.keys) context.state.put(key, batch.value);
      },
    };
  }

  /** #checkCommitted throws unless checkpoint `seq` committed `ops` puts and `nextOffset`. */
  #checkCommitted(seq: number, ops: number, nextOffset: number): void {
    const instance = this.#instance;
    if (instance.state !== 'running') {
      throw instance.failure ?? new Error(`task ${TASK_ID} is ${instance.state}`);
    }
    const last = instance.status().lastCheckpoint;
    const committedOffset = last?.offsets[0]?.nextOffset;
    if (last?.seq !== seq || last.ops !== ops || committedOffset !== nextOffset) {
      const got = `seq ${last?.seq}, ${last?.ops} ops, next offset ${committedOffset}`;
      const expected = `seq ${seq}, ${ops} ops, next offset ${nextOffset}`;
      throw new BenchDataError('WRONG_CHECKPOINT', `checkpoint: got ${got}, expected ${expected}`);
    }
  }
}

function inputRecord(offset: number): InputRecord {
  return {
    topic: TASK_TOPIC,
    partition: TASK_PARTITION,
    offset,
    key: null,
    value: null,
    timestamp: 0,
    headers: {},
  };
}
