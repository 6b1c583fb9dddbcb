/**
 * Checkpoints on the client: turning a cut (the frozen writes, the emitted records, the next
 * offsets) into CommitCheckpoint ops, splitting a write set too big for one entry into staged
 * chunks, and sending with retries. A retry always carries the same (epoch, seq) and the same
 * ops: the store answers a repeat of an applied commit from its record, so a timeout is retried
 * safely (docs/stream-tasks.md). FENCED and the other refusals are final.
 */
import { EMPTY_BYTES } from '../raft/index.js';
import {
  CHECKPOINT_BYTES_MAX,
  REQUEST_BYTES_MAX,
  STAGE_CHUNK_BYTES_MAX,
  STAGE_CHUNKS_MAX,
} from '../store/kv-limits.js';
import type {
  CheckpointStats,
  CommitCheckpointRequest,
  CommitCheckpointResponse,
  RequestOp,
  StageCheckpointRequest,
  StageCheckpointResponse,
  TaskOffset,
} from '../store/kv-types.js';
import { Backoff } from './backoff.js';
import type { CallOptions } from './client.js';
import {
  ClosedError,
  DeadlineExceededError,
  InvalidArgumentError,
  ResourceExhaustedError,
  StrataError,
} from './errors.js';
import { CheckpointTooLargeError, FencedError, TaskProtocolError } from './task-errors.js';
import {
  concat,
  encodeOutboxChunk,
  outboxBound,
  outboxChunkKey,
  outboxRecordBytes,
  type OutboxRecord,
  type TaskKeys,
} from './task-keys.js';
import type { WriteBuffer } from './task-state.js';

/** OP_OVERHEAD_BYTES bounds what the encoding of one op adds to its key and value bytes. */
const OP_OVERHEAD_BYTES = 16;
/** INLINE_BYTES_MAX: ops up to this size go in the commit itself; more are staged. */
export const INLINE_BYTES_MAX = REQUEST_BYTES_MAX - 256 * 1024;
/** OUTBOX_CHUNK_BYTES is the target size of one stored outbox chunk. */
export const OUTBOX_CHUNK_BYTES = 512 * 1024;
/** SEND_ATTEMPTS_MAX bounds the attempts of one commit or stage (the deadline comes first). */
export const SEND_ATTEMPTS_MAX = 1_000;

/** Cut is one checkpoint as cut from a task instance. */
export interface Cut {
  epoch: number;
  seq: number;
  writes: WriteBuffer;
  emits: OutboxRecord[];
  offsets: TaskOffset[];
  /** trimUpTo: outbox seqs up to this one were published and are deleted (0: none). */
  trimUpTo: number;
  records: number;
  createdAtMs: number;
  previousDurationMs: number;
}

/** CheckpointPlan is a cut's ops, inline or in staged chunks, with its size. */
export interface CheckpointPlan {
  inline: RequestOp[];
  chunks: RequestOp[][];
  bytes: number;
  ops: number;
}

/** checkpointOps lists a cut's ops: state writes, outbox chunks, and the outbox trim. */
export function checkpointOps(keys: TaskKeys, cut: Cut): RequestOp[] {
  const ops: RequestOp[] = [];
  for (const { key, value } of cut.writes.entries.values()) {
    const full = concat(keys.state, key);
    if (value === null) ops.push({ type: 'delete', delete: single(full) });
    else ops.push({ type: 'put', put: { key: full, value, prevKv: false, header: null } });
  }
  let chunk: OutboxRecord[] = [];
  let chunkBytes = 0;
  let chunkNo = 0;
  const flush = () => {
    if (chunk.length === 0) return;
    const key = outboxChunkKey(keys, cut.seq, chunkNo++);
    ops.push({
      type: 'put',
      put: { key, value: encodeOutboxChunk(chunk), prevKv: false, header: null },
    });
    chunk = [];
    chunkBytes = 0;
  };
  for (const record of cut.emits) {
    const bytes = outboxRecordBytes(record);
    if (chunkBytes + bytes > OUTBOX_CHUNK_BYTES) flush();
    chunk.push(record);
    chunkBytes += bytes;
  }
  flush();
  if (cut.trimUpTo > 0) {
    const range = { key: keys.outbox, rangeEnd: outboxBound(keys, cut.trimUpTo) };
    ops.push({ type: 'delete', delete: { ...range, prefix: false, prevKv: false, header: null } });
  }
  return ops;
}

/**
 * planCheckpoint sizes the ops: inline when they fit one entry, else staged chunks of at most
 * STAGE_CHUNK_BYTES_MAX each. Throws CheckpointTooLargeError above the hard cap.
 */
export function planCheckpoint(taskId: string, ops: RequestOp[]): CheckpointPlan {
  let bytes = 0;
  for (const op of ops) bytes += opBytes(op);
  if (bytes > CHECKPOINT_BYTES_MAX)
    throw new CheckpointTooLargeError(taskId, bytes, CHECKPOINT_BYTES_MAX);
  if (bytes <= INLINE_BYTES_MAX) return { inline: ops, chunks: [], bytes, ops: ops.length };
  const chunks: RequestOp[][] = [];
  let chunk: RequestOp[] = [];
  let chunkBytes = 0;
  for (const op of ops) {
    const size = opBytes(op);
    if (chunk.length > 0 && chunkBytes + size > STAGE_CHUNK_BYTES_MAX) {
      chunks.push(chunk);
      chunk = [];
      chunkBytes = 0;
    }
    chunk.push(op);
    chunkBytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  if (chunks.length > STAGE_CHUNKS_MAX) {
    throw new CheckpointTooLargeError(taskId, bytes, STAGE_CHUNKS_MAX * STAGE_CHUNK_BYTES_MAX);
  }
  return { inline: [], chunks, bytes, ops: ops.length };
}

/** opBytes bounds an op's encoded size. */
function opBytes(op: RequestOp): number {
  if (op.type === 'put') return op.put.key.length + op.put.value.length + OP_OVERHEAD_BYTES;
  if (op.type === 'delete')
    return op.delete.key.length + op.delete.rangeEnd.length + OP_OVERHEAD_BYTES;
  return OP_OVERHEAD_BYTES;
}

function single(key: Uint8Array) {
  return { key, rangeEnd: EMPTY_BYTES, prefix: false, prevKv: false, header: null };
}

/** CheckpointSender is what sending needs of the store (a TaskClient fits). */
export interface CheckpointSender {
  commit(
    request: CommitCheckpointRequest,
    options?: CallOptions,
  ): Promise<CommitCheckpointResponse>;
  stage(request: StageCheckpointRequest, options?: CallOptions): Promise<StageCheckpointResponse>;
}

/** SendOptions bound the sending of one checkpoint. */
export interface SendOptions {
  deadlineMs: number;
  attemptDeadlineMs: number;
  /** stopped says the instance is closing for good (stop retrying). */
  stopped: () => boolean;
  /** onSent runs once the final commit was handed to the client (for the failpoint). */
  onSent?: () => void;
}

/** sendCheckpoint stages the plan's chunks, then commits; retries until the deadline. */
export async function sendCheckpoint(
  sender: CheckpointSender,
  taskId: string,
  cut: Cut,
  plan: CheckpointPlan,
  options: SendOptions,
): Promise<CommitCheckpointResponse> {
  const { epoch, seq } = cut;
  const deadline = Date.now() + options.deadlineMs;
  for (let chunk = 0; chunk < plan.chunks.length; chunk++) {
    const request = { taskId, epoch, seq, chunk, ops: plan.chunks[chunk]! };
    await withRetries(`stage chunk ${chunk}`, deadline, options, (attempt) =>
      sender.stage(request, attempt),
    );
  }
  const stats: CheckpointStats = {
    bytes: plan.bytes,
    ops: plan.ops,
    records: cut.records,
    createdAtMs: cut.createdAtMs,
    previousDurationMs: cut.previousDurationMs,
  };
  const request: CommitCheckpointRequest = {
    taskId,
    epoch,
    seq,
    ops: plan.inline,
    offsets: cut.offsets,
    stagedChunks: plan.chunks.length,
    stats,
  };
  return withRetries(`commit seq ${seq}`, deadline, options, (attempt) => {
    const sent = sender.commit(request, attempt);
    options.onSent?.();
    return sent;
  });
}

/** isFinal says whether a failure of a task operation cannot be helped by a retry. */
export function isFinal(error: unknown): boolean {
  return (
    !(error instanceof StrataError) ||
    error instanceof FencedError ||
    error instanceof TaskProtocolError ||
    error instanceof InvalidArgumentError ||
    error instanceof ClosedError ||
    (error instanceof ResourceExhaustedError && error.limit !== undefined)
  );
}

/** withRetries runs `send` until it succeeds, fails for good, or the deadline passes. */
export async function withRetries<T>(
  what: string,
  deadline: number,
  options: Pick<SendOptions, 'attemptDeadlineMs' | 'stopped'>,
  send: (attempt: CallOptions) => Promise<T>,
): Promise<T> {
  const backoff = new Backoff({ baseMs: 20, capMs: 1_000 });
  let last: unknown = null;
  for (let attempt = 1; attempt <= SEND_ATTEMPTS_MAX; attempt++) {
    const remaining = deadline - Date.now();
    if (remaining <= 0 || options.stopped()) break;
    try {
      return await send({
        deadlineMs: Math.max(1, Math.min(options.attemptDeadlineMs, remaining)),
      });
    } catch (error) {
      if (isFinal(error)) throw error;
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, backoff.nextMs()));
  }
  const detail = last instanceof Error ? `: ${last.message}` : '';
  throw new DeadlineExceededError(`${what}: no success before the deadline${detail}`, {
    cause: last,
    indeterminate: true,
  });
}
