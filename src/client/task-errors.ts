/**
 * Typed failures of stream tasks (docs/stream-tasks.md). The store answers a refused task
 * operation with a code (FENCED, TASK_NOT_ACQUIRED, SEQ_OUT_OF_ORDER, OFFSETS_BACKWARDS,
 * STAGE_MISSING); the task client turns each into one of these classes, so the runtime can tell
 * "another instance owns this task" (FencedError: stop this instance) from a broken protocol
 * (TaskProtocolError: a bug or a reset) and from a checkpoint too big for the hard cap.
 */
import { StrataError, type StrataErrorOptions } from './errors.js';

/** TASK_PROTOCOL_CODES are the store's codes for a task operation refused by its rules. */
export const TASK_PROTOCOL_CODES: readonly string[] = [
  'TASK_NOT_ACQUIRED',
  'SEQ_OUT_OF_ORDER',
  'OFFSETS_BACKWARDS',
  'STAGE_MISSING',
];

/**
 * FencedError says a newer instance acquired the task: this instance's epoch is stale, its
 * commit changed nothing, and it must stop (its buffered state is discarded).
 */
export class FencedError extends StrataError {
  /** taskId is the fenced task. */
  readonly taskId: string;
  constructor(taskId: string, message: string, options: StrataErrorOptions = {}) {
    super('FENCED', message, options);
    this.taskId = taskId;
  }
}

/**
 * TaskProtocolError says the store refused a task operation by its rules (code: one of
 * TASK_PROTOCOL_CODES); nothing changed. The instance cannot go on with its current view.
 */
export class TaskProtocolError extends StrataError {
  /** taskId is the task whose operation was refused. */
  readonly taskId: string;
  constructor(taskId: string, code: string, message: string, options: StrataErrorOptions = {}) {
    super(code, message, options);
    this.taskId = taskId;
  }
}

/** CheckpointTooLargeError says a checkpoint's ops exceed the hard cap (checkpointBytesMax). */
export class CheckpointTooLargeError extends StrataError {
  /** bytes is the checkpoint's encoded size; max the cap. */
  readonly bytes: number;
  readonly max: number;
  constructor(taskId: string, bytes: number, max: number) {
    const message =
      `task ${taskId}: the checkpoint is ${bytes} bytes, above the limit checkpointBytesMax = ` +
      `${max}; checkpoint more often (smaller buffer bounds)`;
    super('RESOURCE_EXHAUSTED', message, { limit: 'checkpointBytesMax' });
    this.bytes = bytes;
    this.max = max;
  }
}

/** TaskProcessError wraps an error thrown by a task's process() for one input record. */
export class TaskProcessError extends StrataError {
  /** taskId, topic, partition and offset name the record. */
  readonly taskId: string;
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  constructor(
    taskId: string,
    record: { topic: string; partition: number; offset: number },
    cause: unknown,
  ) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    const where = `${record.topic}/${record.partition}@${record.offset}`;
    super('PROCESS_FAILED', `task ${taskId}: process() threw on ${where}: ${detail}`, { cause });
    this.taskId = taskId;
    this.topic = record.topic;
    this.partition = record.partition;
    this.offset = record.offset;
  }
}

/** taskErrorOf turns a client error from a task operation into a task error when it is one. */
export function taskErrorOf(taskId: string, error: unknown): unknown {
  if (!(error instanceof StrataError)) return error;
  if (error.code === 'FENCED') return new FencedError(taskId, error.message, { cause: error });
  if (TASK_PROTOCOL_CODES.includes(error.code)) {
    return new TaskProtocolError(taskId, error.code, error.message, { cause: error });
  }
  return error;
}
