/**
 * StreamTaskRuntime runs a StreamTask over Kafka input with Strata state (BRIEF section 6,
 * docs/stream-tasks.md). It runs a kafkajs consumer group; each assigned input partition is a
 * task `<application>.<topic>.<partition>`, run by a TaskInstance: acquired on first use
 * (fencing any other instance), restored from its last checkpoint, and fed the partition's
 * records from its recorded offset. kafkajs `seek` is used once per instance, inside eachBatch
 * (where it is reliable), and records below the recorded offset are dropped anyway. Strata's
 * record is the source of truth: Kafka's group offsets are ignored when reading, and committed
 * after each checkpoint only for lag tools (metadata `strata:<snapshotIndex>`).
 *
 * A fenced instance stops and its partition is paused until the next rebalance; a failed one is
 * restarted (a fresh acquire and restore) after a back-off; an instance whose process() threw
 * under the 'stop' policy stays stopped. Revoked partitions and stop() checkpoint what they can.
 * Emitted records are published by the instances' relays through one idempotent producer.
 */
import { hostname } from 'node:os';
import {
  Kafka,
  logLevel,
  type Admin,
  type Consumer,
  type EachBatchPayload,
  type KafkaMessage,
  type Producer,
} from 'kafkajs';
import type { ConnectOptions } from './client.js';
import { TaskClient } from './task-client.js';
import { FencedError, TaskProcessError } from './task-errors.js';
import { TaskInstance, type CheckpointInfo, type TaskInstanceStatus } from './task-instance.js';
import { DEDUP_HEADER } from './task-keys.js';
import type { OutputSink, PublishRecord } from './task-relay.js';
import type {
  CheckpointOptions,
  InputRecord,
  OnProcessError,
  StreamTask,
  TaskFailpoint,
} from './task-types.js';

/** RuntimeHooks observe the runtime (tests, benchmarks, the worker scripts). */
export interface RuntimeHooks {
  failpoint?(name: TaskFailpoint, taskId: string): void;
  onCheckpoint?(info: CheckpointInfo): void;
  /** onStopped: an instance was fenced or failed (the runtime goes on with the others). */
  onStopped?(taskId: string, error: Error): void;
  log?(line: string): void;
}

/** StreamTaskRuntimeOptions configure a runtime. */
export interface StreamTaskRuntimeOptions {
  /** application names the consumer group and prefixes task ids ([A-Za-z0-9._-]+). */
  application: string;
  topics: string[];
  /** task is the task, or a factory called once per task instance. */
  task: StreamTask | ((taskId: string) => StreamTask);
  kafka: { brokers: string[]; clientId?: string };
  strata: ConnectOptions;
  /** owner names this worker in task records (default host:pid). */
  owner?: string;
  checkpoint?: CheckpointOptions;
  onProcessError?: OnProcessError;
  consumer?: { sessionTimeout?: number; heartbeatInterval?: number; rebalanceTimeout?: number };
  /** partitionsConcurrently: partitions processed at once (default 8). */
  partitionsConcurrently?: number;
  /** revokeTimeoutMs bounds the final checkpoint of a revoked partition (default 10,000). */
  revokeTimeoutMs?: number;
  hooks?: RuntimeHooks;
}

const APPLICATION_PATTERN = /^[A-Za-z0-9._-]{1,100}$/;
/** RESTART_BACKOFF_MS are the waits before restarting a failed instance, by failure count. */
const RESTART_BACKOFF_MS = [200, 500, 1_000, 2_000, 5_000, 10_000];

/** taskIdOf is the task id of an input partition. */
export function taskIdOf(application: string, topic: string, partition: number): string {
  return `${application}.${topic}.${partition}`;
}

/** StreamTaskRuntime runs stream tasks (see the module comment). */
export class StreamTaskRuntime {
  readonly #options: StreamTaskRuntimeOptions;
  readonly #owner: string;
  readonly #instances = new Map<string, TaskInstance>();
  readonly #sought = new WeakSet<TaskInstance>();
  readonly #failures = new Map<string, number>();
  readonly #heldUntil = new Map<string, number>();
  readonly #poisoned = new Set<string>();
  #assigned = new Set<string>();
  #client: TaskClient | null = null;
  #consumer: Consumer | null = null;
  #producer: Producer | null = null;
  #admin: Admin | null = null;
  #timer: NodeJS.Timeout | null = null;
  #state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';

  constructor(options: StreamTaskRuntimeOptions) {
    if (!APPLICATION_PATTERN.test(options.application)) {
      throw new RangeError(
        `application '${options.application}' must match ${APPLICATION_PATTERN}`,
      );
    }
    if (options.topics.length === 0) throw new RangeError('topics must not be empty');
    this.#options = options;
    this.#owner = options.owner ?? `${hostname()}:${process.pid}`;
  }

  /** start connects to Strata and Kafka and starts consuming. */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new Error(`runtime is ${this.#state}`);
    this.#state = 'running';
    const { kafka: kafkaOptions, application } = this.#options;
    this.#client = await TaskClient.connect(this.#options.strata);
    const kafka = new Kafka({
      brokers: kafkaOptions.brokers,
      clientId: kafkaOptions.clientId ?? `strata-${application}`,
      logLevel: logLevel.NOTHING,
    });
    this.#admin = kafka.admin();
    await this.#admin.connect();
    this.#producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await this.#producer.connect();
    const consumer = kafka.consumer({ groupId: application, ...this.#options.consumer });
    this.#consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (event) =>
      this.#onGroupJoin(event.payload.memberAssignment),
    );
    consumer.on(consumer.events.REBALANCING, () =>
      this.#failpoint('during-rebalance', application),
    );
    consumer.on(consumer.events.CRASH, (event) =>
      this.#log(
        `consumer crashed: ${event.payload.error.message} (restart ${event.payload.restart})`,
      ),
    );
    await consumer.connect();
    await consumer.subscribe({ topics: this.#options.topics, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.#options.partitionsConcurrently ?? 8,
      eachBatch: (payload) => this.#eachBatch(payload),
    });
    const intervalMs = this.#options.checkpoint?.intervalMs ?? 1_000;
    this.#timer = setInterval(() => this.#tick(), Math.max(10, intervalMs));
  }

  /** statuses returns the progress of every live task instance. */
  statuses(): TaskInstanceStatus[] {
    return [...this.#instances.values()].map((instance) => instance.status());
  }

  /** checkpointAll cuts a checkpoint of every live instance and waits for them. */
  async checkpointAll(): Promise<void> {
    const instances = [...this.#instances.values()];
    await Promise.all(instances.map((instance) => instance.requestCheckpoint()));
    await Promise.all(instances.map((instance) => instance.settled()));
  }

  /** stop checkpoints every instance (bounded), leaves the group and disconnects. */
  async stop(): Promise<void> {
    if (this.#state !== 'running') return;
    this.#state = 'stopping';
    if (this.#timer) clearInterval(this.#timer);
    const timeoutMs = this.#options.revokeTimeoutMs ?? 10_000;
    const closing = [...this.#instances.values()].map((instance) => instance.close(timeoutMs));
    this.#instances.clear();
    await Promise.all(closing);
    await this.#consumer?.disconnect().catch(() => undefined);
    await this.#producer?.disconnect().catch(() => undefined);
    await this.#admin?.disconnect().catch(() => undefined);
    this.#client?.close();
    this.#state = 'stopped';
  }

  /** sink publishes relayed records through the idempotent producer, in order. */
  #sink(): OutputSink {
    return {
      publish: async (records: readonly PublishRecord[]) => {
        const producer = this.#producer;
        if (producer === null) throw new Error('the producer is not connected');
        const byTopic = new Map<string, PublishRecord[]>();
        for (const record of records) {
          const list = byTopic.get(record.topic) ?? [];
          list.push(record);
          byTopic.set(record.topic, list);
        }
        const topicMessages = [...byTopic].map(([topic, list]) => ({
          topic,
          messages: list.map(kafkaMessageOf),
        }));
        await producer.sendBatch({ topicMessages, acks: -1 });
      },
    };
  }

  #newInstance(topic: string, partition: number): TaskInstance {
    const taskId = taskIdOf(this.#options.application, topic, partition);
    const task =
      typeof this.#options.task === 'function' ? this.#options.task(taskId) : this.#options.task;
    return new TaskInstance({
      taskId,
      topic,
      partition,
      owner: this.#owner,
      task,
      store: this.#client!,
      sink: this.#sink(),
      checkpoint: this.#options.checkpoint,
      onProcessError: this.#options.onProcessError,
      earliestOffset: () => this.#earliestOffset(topic, partition),
      hooks: {
        failpoint: (name, id) => this.#failpoint(name, id),
        onCheckpoint: (info) => this.#onCheckpoint(topic, partition, info),
        onStopped: (instance, error) => this.#onStopped(instance, error),
      },
    });
  }

  async #eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, isRunning, isStale } = payload;
    if (this.#state !== 'running' || batch.isEmpty()) return;
    const instance = this.#instanceFor(batch.topic, batch.partition);
    if (instance === null) return;
    try {
      await instance.start();
    } catch {
      return; // onStopped has paused the partition
    }
    if (instance.state !== 'running' || !isRunning() || isStale()) return;
    const next = instance.nextOffset;
    if (next !== null && !this.#sought.has(instance)) {
      this.#sought.add(instance);
      if (Number(batch.firstOffset()) !== next) {
        this.#consumer!.seek({
          topic: batch.topic,
          partition: batch.partition,
          offset: String(next),
        });
        return;
      }
    }
    this.#sought.add(instance);
    let lastBeat = Date.now();
    await instance.processRecords(
      batch.messages.map((m) => inputRecordOf(batch.topic, batch.partition, m)),
      {
        shouldStop: () => !isRunning() || isStale() || this.#state !== 'running',
        onProcessed: (offset) => {
          payload.resolveOffset(String(offset));
          if (Date.now() - lastBeat >= 1_000) {
            lastBeat = Date.now();
            void payload.heartbeat().catch(() => undefined);
          }
        },
      },
    );
  }

  /** #instanceFor returns the partition's live instance, making one unless held back. */
  #instanceFor(topic: string, partition: number): TaskInstance | null {
    const tp = `${topic}/${partition}`;
    const live = this.#instances.get(tp);
    if (live !== undefined) return live;
    if (this.#poisoned.has(tp) || (this.#heldUntil.get(tp) ?? 0) > Date.now()) return null;
    const instance = this.#newInstance(topic, partition);
    this.#instances.set(tp, instance);
    return instance;
  }

  #onGroupJoin(assignment: Record<string, number[]>): void {
    this.#failpoint('during-rebalance', this.#options.application);
    const assigned = new Set<string>();
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const partition of partitions) assigned.add(`${topic}/${partition}`);
    }
    const timeoutMs = this.#options.revokeTimeoutMs ?? 10_000;
    for (const [tp, instance] of this.#instances) {
      if (assigned.has(tp)) continue;
      this.#instances.delete(tp);
      void instance.close(timeoutMs);
    }
    this.#assigned = assigned;
    // Partitions paused after a fence are taken up again by a fresh instance.
    const resume = [...assigned].filter((tp) => !this.#poisoned.has(tp)).map(splitTp);
    if (resume.length > 0)
      this.#consumer?.resume(
        resume.map(({ topic, partition }) => ({ topic, partitions: [partition] })),
      );
  }

  #onStopped(instance: TaskInstance, error: Error): void {
    const tp = `${instance.topic}/${instance.partition}`;
    if (this.#instances.get(tp) === instance) this.#instances.delete(tp);
    this.#options.hooks?.onStopped?.(instance.taskId, error);
    this.#log(`task ${instance.taskId} stopped: ${error.name}: ${error.message}`);
    if (this.#state !== 'running') return;
    this.#consumer?.pause([{ topic: instance.topic, partitions: [instance.partition] }]);
    if (error instanceof FencedError) return; // resumed by the next rebalance
    if (error instanceof TaskProcessError && (this.#options.onProcessError ?? 'stop') === 'stop') {
      this.#poisoned.add(tp);
      return;
    }
    const failures = (this.#failures.get(tp) ?? 0) + 1;
    this.#failures.set(tp, failures);
    const waitMs = RESTART_BACKOFF_MS[Math.min(failures, RESTART_BACKOFF_MS.length) - 1]!;
    this.#heldUntil.set(tp, Date.now() + waitMs);
    setTimeout(() => {
      if (this.#state === 'running' && this.#assigned.has(tp)) {
        this.#consumer?.resume([{ topic: instance.topic, partitions: [instance.partition] }]);
      }
    }, waitMs).unref();
  }

  #onCheckpoint(topic: string, partition: number, info: CheckpointInfo): void {
    this.#failures.delete(`${topic}/${partition}`);
    this.#options.hooks?.onCheckpoint?.(info);
    const next = info.offsets[0]?.nextOffset;
    const consumer = this.#consumer;
    if (next === undefined || consumer === null || this.#state !== 'running') return;
    // For lag tools only: Strata's record is the source of truth.
    const offset = {
      topic,
      partition,
      offset: String(next),
      metadata: `strata:${info.snapshotIndex}`,
    };
    void consumer
      .commitOffsets([offset])
      .then(() => this.#failpoint('after-kafka-commit', info.taskId))
      .catch(() => undefined);
  }

  #tick(): void {
    if (this.#state !== 'running') return;
    for (const instance of this.#instances.values()) {
      if (instance.state === 'running') void instance.requestCheckpoint();
    }
  }

  async #earliestOffset(topic: string, partition: number): Promise<number> {
    const offsets = await this.#admin!.fetchTopicOffsets(topic);
    const found = offsets.find((o) => o.partition === partition);
    return found === undefined ? 0 : Number(found.low);
  }

  #failpoint(name: TaskFailpoint, taskId: string): void {
    this.#options.hooks?.failpoint?.(name, taskId);
  }

  #log(line: string): void {
    const log = this.#options.hooks?.log ?? ((text: string) => process.stderr.write(`${text}\n`));
    log(line);
  }
}

/** inputRecordOf converts a kafkajs message. */
function inputRecordOf(topic: string, partition: number, message: KafkaMessage): InputRecord {
  const headers: Record<string, Uint8Array | undefined> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    const first = Array.isArray(value) ? value[0] : value;
    headers[name] =
      first === undefined ? undefined : typeof first === 'string' ? Buffer.from(first) : first;
  }
  return {
    topic,
    partition,
    offset: Number(message.offset),
    key: message.key,
    value: message.value,
    timestamp: Number(message.timestamp),
    headers,
  };
}

/** kafkaMessageOf converts a relayed record, adding its id header. */
function kafkaMessageOf(record: PublishRecord) {
  const headers: Record<string, Buffer> = {};
  for (const [name, value] of record.headers) headers[name] = Buffer.from(value);
  headers[DEDUP_HEADER] = Buffer.from(record.id);
  return {
    key: record.key === null ? null : Buffer.from(record.key),
    value: record.value === null ? null : Buffer.from(record.value),
    ...(record.partition >= 0 ? { partition: record.partition } : {}),
    headers,
  };
}

function splitTp(tp: string): { topic: string; partition: number } {
  const slash = tp.lastIndexOf('/');
  return { topic: tp.slice(0, slash), partition: Number(tp.slice(slash + 1)) };
}
