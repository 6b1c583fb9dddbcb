/**
 * The stream-task API for task authors (docs/stream-tasks.md): a StreamTask processes one input
 * record at a time with a TaskContext whose `state` reads and writes the task's keyed state in
 * Strata, and whose `emit` sends output records exactly once (through the outbox). Writes and
 * emits of one record are all-or-nothing: if process() throws, none of them happened.
 */
import type { Key } from './keys.js';

/** InputRecord is one Kafka record given to process(). */
export interface InputRecord {
  topic: string;
  partition: number;
  /** offset is the record's Kafka offset. */
  offset: number;
  key: Uint8Array | null;
  value: Uint8Array | null;
  /** timestamp is the record's Kafka timestamp (ms since the epoch). */
  timestamp: number;
  headers: Record<string, Uint8Array | undefined>;
}

/** OutputRecord is one record a task emits to a Kafka topic. */
export interface OutputRecord {
  key?: Key | null;
  value: Key | null;
  /** partition pins the output partition; default: Kafka's partitioner on the key. */
  partition?: number;
  headers?: Record<string, Key>;
}

/** StateEntry is one key of the task's state with its value. */
export interface StateEntry {
  key: Uint8Array;
  value: Uint8Array;
}

/** StateRangeOptions select state keys: a prefix, or [start, end); at most `limit`. */
export interface StateRangeOptions {
  prefix?: Key;
  start?: Key;
  end?: Key;
  limit?: number;
}

/**
 * TaskState is a task's keyed state. Keys are the task's own (the runtime stores them under
 * `{task:<taskId>}/s/`). Reads see this record's writes, then the task's unsaved writes, then
 * the store at the last checkpoint; put and delete are buffered until the next checkpoint.
 */
export interface TaskState {
  get(key: Key): Promise<Uint8Array | null>;
  put(key: Key, value: Key): void;
  delete(key: Key): void;
  /** range returns keys in order (at most `limit`, default 10,000). */
  range(options: StateRangeOptions): Promise<StateEntry[]>;
}

/** TaskContext is what process() works with. */
export interface TaskContext {
  /** taskId is the task's id (`<application>.<topic>.<partition>`). */
  readonly taskId: string;
  readonly topic: string;
  readonly partition: number;
  readonly state: TaskState;
  /** emit sends a record to `topic` once its checkpoint commits (exactly once, deduplicable). */
  emit(topic: string, record: OutputRecord): void;
}

/** StreamTask is what a task author writes. */
export interface StreamTask {
  /** init runs once per task instance, after its state is restored, before any record. */
  init?(context: TaskContext): Promise<void> | void;
  /** process handles one input record; throwing undoes its writes and emits. */
  process(record: InputRecord, context: TaskContext): Promise<void> | void;
}

/** CheckpointOptions bound a task's unsaved work; reaching a bound forces a checkpoint. */
export interface CheckpointOptions {
  /** intervalMs: checkpoint this often when anything changed (default 1,000). */
  intervalMs?: number;
  /** maxBytes: buffered state and output bytes (default 1 MiB). */
  maxBytes?: number;
  /** maxRecords: input records processed since the last checkpoint (default 100,000). */
  maxRecords?: number;
  /** deadlineMs: how long one checkpoint may retry before the instance fails (default 60,000). */
  deadlineMs?: number;
  /** attemptDeadlineMs: the deadline of one commit attempt (default 10,000). */
  attemptDeadlineMs?: number;
}

/** OnProcessError says what a thrown process() does: stop the task, or dead-letter the record. */
export type OnProcessError = 'stop' | { deadLetterTopic: string };

/** TaskFailpoint names the places a test can crash a worker (see StreamTaskRuntime hooks). */
export type TaskFailpoint =
  | 'before-checkpoint'
  | 'during-checkpoint'
  | 'after-store-commit'
  | 'after-kafka-commit'
  | 'during-rebalance'
  | 'after-acquire';
