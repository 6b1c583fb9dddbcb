/**
 * Execution of the stream-task operations (BRIEF section 6, docs/stream-tasks.md) against one
 * group, as part of applying a log entry: AcquireTask, CommitCheckpoint and StageCheckpoint.
 * Every check runs here, when the entry is applied, never on the leader before proposing: all
 * replicas see the same log, so all decide alike. Each operation runs in the command's child
 * overlay (sm-execute.ts): a KvError thrown here drops every write it made, so a refused commit
 * (FENCED, SEQ_OUT_OF_ORDER, OFFSETS_BACKWARDS, ...) changes nothing at all.
 *
 * The rules, with meta the task's record (absent: epoch 0, seq 0, no offsets):
 *   acquire: epoch + 1, owner set, acquiredIndex = this index; staging left by any earlier
 *            epoch is deleted (at most STAGE_GC_KEYS_MAX keys per acquire).
 *   commit:  epoch < meta.epoch: FENCED; epoch > meta.epoch: TASK_NOT_ACQUIRED;
 *            seq == meta.seq under the same epoch: a retry, answered from the record;
 *            seq != meta.seq + 1: SEQ_OUT_OF_ORDER; an offset below the recorded one:
 *            OFFSETS_BACKWARDS; then the staged chunks (in order), the ops, and the new meta
 *            (seq, commitEpoch, merged offsets, snapshotIndex = this index) in one batch.
 *   stage:   the same fence, seq must be meta.seq + 1; stores the chunk's ops.
 */
import type { Index } from '../raft/types.js';
import {
  decodeStagedChunk,
  decodeTaskMeta,
  encodeStagedChunk,
  encodeTaskMeta,
} from './kv-codec.js';
import { KvError } from './kv-errors.js';
import { checkCheckpointOps } from './kv-limits.js';
import { prefixRange, taskMetaKey, taskStageKey, taskStagePrefix } from './kv-tasks.js';
import type {
  AcquireTaskRequest,
  AcquireTaskResponse,
  CommitCheckpointRequest,
  CommitCheckpointResponse,
  RequestOp,
  ResponseHeader,
  StageCheckpointRequest,
  StageCheckpointResponse,
  TaskMeta,
  TaskOffset,
} from './kv-types.js';
import { EMPTY_BYTES } from '../raft/types.js';
import type { GroupView, Overlay } from './sm-view.js';

/** STAGE_GC_KEYS_MAX bounds the staged chunks one acquire deletes (the rest go at the next). */
export const STAGE_GC_KEYS_MAX = 1_024;

/** TaskContext is what a task operation runs with (built by sm-execute.ts). */
export interface TaskContext {
  view: GroupView & { overlay: Overlay };
  index: Index;
  header: ResponseHeader;
  /** writeOp runs a put or delete in the command's overlay (as a txn op would). */
  writeOp(op: RequestOp): Promise<void>;
  /** writeOps runs puts and deletes in order, as writeOp each (faster for many). */
  writeOps(ops: readonly RequestOp[]): Promise<void>;
}

/** emptyTaskMeta is the record of a task never acquired. */
export function emptyTaskMeta(): TaskMeta {
  return {
    epoch: 0,
    owner: '',
    seq: 0,
    commitEpoch: 0,
    offsets: [],
    snapshotIndex: 0,
    acquiredIndex: 0,
    stats: null,
  };
}

/** executeAcquireTask bumps the task's epoch and returns its last checkpoint. */
export async function executeAcquireTask(
  context: TaskContext,
  request: AcquireTaskRequest,
): Promise<AcquireTaskResponse> {
  const meta = (await loadMeta(context, request.taskId)) ?? emptyTaskMeta();
  const next: TaskMeta = {
    ...meta,
    epoch: meta.epoch + 1,
    owner: request.owner,
    acquiredIndex: context.index,
  };
  await collectStaging(context, request.taskId);
  await writeMeta(context, request.taskId, next);
  return {
    header: context.header,
    epoch: next.epoch,
    seq: next.seq,
    offsets: next.offsets,
    snapshotIndex: next.snapshotIndex,
  };
}

/** executeCommitCheckpoint applies one checkpoint, or refuses it whole (see the module). */
export async function executeCommitCheckpoint(
  context: TaskContext,
  request: CommitCheckpointRequest,
): Promise<CommitCheckpointResponse> {
  const { taskId, epoch, seq } = request;
  const meta = await fencedMeta(context, taskId, epoch, 'commit');
  if (seq === meta.seq && meta.commitEpoch === epoch) {
    const snapshotIndex = meta.snapshotIndex;
    return { header: context.header, epoch, seq, snapshotIndex, deduplicated: true };
  }
  checkNextSeq(taskId, meta, seq, 'commit');
  const offsets = mergeOffsets(taskId, meta.offsets, request.offsets);
  for (let chunk = 0; chunk < request.stagedChunks; chunk++) {
    await promoteChunk(context, request, chunk);
  }
  await context.view.prefetch(singleKeysOf(request.ops));
  await context.writeOps(request.ops);
  const next: TaskMeta = {
    ...meta,
    seq,
    commitEpoch: epoch,
    offsets,
    snapshotIndex: context.index,
    stats: request.stats,
  };
  await writeMeta(context, taskId, next);
  return { header: context.header, epoch, seq, snapshotIndex: context.index, deduplicated: false };
}

/** executeStageCheckpoint stores one chunk of the next checkpoint's ops. */
export async function executeStageCheckpoint(
  context: TaskContext,
  request: StageCheckpointRequest,
): Promise<StageCheckpointResponse> {
  const { taskId, epoch, seq, chunk } = request;
  const meta = await fencedMeta(context, taskId, epoch, 'stage');
  checkNextSeq(taskId, meta, seq, 'stage');
  const key = taskStageKey(taskId, epoch, seq, chunk);
  const value = encodeStagedChunk(request.ops);
  await context.writeOp({ type: 'put', put: { key, value, prevKv: false, header: null } });
  return { header: context.header, chunk };
}

/**
 * mergeOffsets returns the recorded offsets updated by `updates` (sorted by topic, then
 * partition); throws OFFSETS_BACKWARDS if an update is below the recorded offset.
 */
export function mergeOffsets(
  taskId: string,
  recorded: readonly TaskOffset[],
  updates: readonly TaskOffset[],
): TaskOffset[] {
  const merged = new Map<string, TaskOffset>();
  for (const offset of recorded) merged.set(offsetName(offset), offset);
  for (const offset of updates) {
    const before = merged.get(offsetName(offset));
    if (before !== undefined && offset.nextOffset < before.nextOffset) {
      const where = `${offset.topic}/${offset.partition}`;
      const reason = `next offset ${offset.nextOffset} is below the recorded ${before.nextOffset}`;
      throw new KvError('OFFSETS_BACKWARDS', `task ${taskId}: ${where}: ${reason}`);
    }
    merged.set(offsetName(offset), { ...offset });
  }
  return [...merged.values()].sort(compareOffsets);
}

function offsetName(offset: TaskOffset): string {
  return `${offset.topic}\u0000${offset.partition}`;
}

function compareOffsets(a: TaskOffset, b: TaskOffset): number {
  if (a.topic !== b.topic) return a.topic < b.topic ? -1 : 1;
  return a.partition - b.partition;
}

/**
 * loadMeta reads the task's record (null if absent); a damaged one is MALFORMED. It reads it
 * through prefetch, which keeps the record: the put of the new record (writeMeta) reads the old
 * one again, and would otherwise go to LevelDB a second time.
 */
async function loadMeta(context: TaskContext, taskId: string): Promise<TaskMeta | null> {
  const key = taskMetaKey(taskId);
  await context.view.prefetch([key]);
  const stored = await context.view.get(key);
  if (stored === null) return null;
  try {
    return decodeTaskMeta(stored.value);
  } catch (error) {
    const reason = `the task record ${taskId} does not decode; was it written by a plain put?`;
    throw new KvError('MALFORMED', reason, { cause: error });
  }
}

/** fencedMeta returns the record if `epoch` is the task's current one, else throws. */
async function fencedMeta(
  context: TaskContext,
  taskId: string,
  epoch: number,
  what: string,
): Promise<TaskMeta> {
  const meta = (await loadMeta(context, taskId)) ?? emptyTaskMeta();
  if (epoch < meta.epoch) {
    const reason = `${what} from epoch ${epoch}, but epoch ${meta.epoch} owns it (${meta.owner})`;
    throw new KvError('FENCED', `task ${taskId}: ${reason}`);
  }
  if (epoch > meta.epoch) {
    const reason = `${what} from epoch ${epoch}, which was never acquired (epoch ${meta.epoch})`;
    throw new KvError('TASK_NOT_ACQUIRED', `task ${taskId}: ${reason}`);
  }
  return meta;
}

function checkNextSeq(taskId: string, meta: TaskMeta, seq: number, what: string): void {
  if (seq === meta.seq + 1) return;
  const reason = `${what} seq ${seq}, but the last commit is seq ${meta.seq}: expected ${meta.seq + 1}`;
  throw new KvError('SEQ_OUT_OF_ORDER', `task ${taskId}: ${reason}`);
}

/** promoteChunk applies one staged chunk's ops and deletes the chunk. */
async function promoteChunk(
  context: TaskContext,
  request: CommitCheckpointRequest,
  chunk: number,
): Promise<void> {
  const { taskId, epoch, seq } = request;
  const key = taskStageKey(taskId, epoch, seq, chunk);
  const stored = await context.view.get(key);
  if (stored === null) {
    const reason = `staged chunk ${chunk} of epoch ${epoch} seq ${seq} is missing`;
    throw new KvError('STAGE_MISSING', `task ${taskId}: ${reason}`);
  }
  const ops = decodeStagedChunk(stored.value);
  // Anyone may put under the stage prefix with a plain put: check the ops again.
  checkCheckpointOps(taskId, ops, `staged chunk ${chunk}`);
  await context.view.prefetch(singleKeysOf(ops));
  await context.writeOps(ops);
  await context.writeOp({ type: 'delete', delete: singleDelete(key) });
}

/** collectStaging deletes staged chunks (every one belongs to an older epoch now). */
async function collectStaging(context: TaskContext, taskId: string): Promise<void> {
  const { start, end } = prefixRange(taskStagePrefix(taskId));
  const doomed: Uint8Array[] = [];
  for await (const { key } of context.view.scan(start, end, false)) {
    doomed.push(key);
    if (doomed.length >= STAGE_GC_KEYS_MAX) break;
  }
  for (const key of doomed) await context.writeOp({ type: 'delete', delete: singleDelete(key) });
}

async function writeMeta(context: TaskContext, taskId: string, meta: TaskMeta): Promise<void> {
  const put = {
    key: taskMetaKey(taskId),
    value: encodeTaskMeta(meta),
    prevKv: false,
    header: null,
  };
  await context.writeOp({ type: 'put', put });
}

/** singleKeysOf lists the keys that single-key puts and deletes read before they write. */
function singleKeysOf(ops: readonly RequestOp[]): Uint8Array[] {
  const keys: Uint8Array[] = [];
  for (const op of ops) {
    if (op.type === 'put') keys.push(op.put.key);
    else if (op.type === 'delete' && !op.delete.prefix && op.delete.rangeEnd.length === 0) {
      keys.push(op.delete.key);
    }
  }
  return keys;
}

function singleDelete(key: Uint8Array) {
  return { key, rangeEnd: EMPTY_BYTES, prefix: false, prevKv: false, header: null };
}
