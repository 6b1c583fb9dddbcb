/**
 * Size and count limits of the KV API, as named constants and gathered in LIMITS (for docs and
 * the server), with the checks of a decoded request against them. A check throws LimitError
 * naming the limit (INVALID_ARGUMENT for a field too big, RESOURCE_EXHAUSTED for a whole
 * request or answer too big) or KvError INVALID_ARGUMENT for a rule (empty key, ...).
 *
 * The server runs these checks at the edge, before proposing; the state machine runs them again
 * when it applies a command (the log may hold commands from older versions), so every replica
 * rejects the same commands. The limits are therefore part of the replicated protocol: change
 * them only together with a version gate.
 */
import { KvError, LimitError } from './kv-errors.js';
import {
  singleKeyEnd,
  successorOfPrefix,
  taskAreas,
  taskIdProblem,
  taskKeyWriteProblem,
  taskWriteProblem,
  type KeyRange,
} from './kv-tasks.js';
import {
  CompareResult,
  CompareTarget,
  type AcquireTaskRequest,
  type CommitCheckpointRequest,
  type StageCheckpointRequest,
  type TaskOffset,
  type Command,
  type Compare,
  type DeleteRequest,
  type KeySelection,
  type PutRequest,
  type RangeRequest,
  type RequestOp,
  type TxnRequest,
} from './kv-types.js';

const KIB = 1024;
const MIB = 1024 * KIB;

/** KEY_BYTES_MAX is the longest key (also range ends and compare keys), in bytes. */
export const KEY_BYTES_MAX = 4 * KIB;
/** VALUE_BYTES_MAX is the longest value (also compare operands), in bytes. */
export const VALUE_BYTES_MAX = 1 * MIB;
/** REQUEST_BYTES_MAX caps one encoded request or Command (a max put fits; a txn shares it). */
export const REQUEST_BYTES_MAX = 2 * MIB;
/** TXN_OPS_MAX caps a txn's compares, and the ops of each of its branches. */
export const TXN_OPS_MAX = 128;
/** RANGE_KEYS_MAX is the most keys in one range page (a larger `limit` is clamped). */
export const RANGE_KEYS_MAX = 10_000;
/** RANGE_BYTES_MAX caps the key and value bytes of one range page (it pages early). */
export const RANGE_BYTES_MAX = 4 * MIB;
/**
 * RESPONSE_BYTES_MAX caps one write's answer (prev kvs, txn ranges): key and value bytes plus
 * 32 bytes per KeyValue. Txn ranges page early within it; prev kvs beyond it fail the write.
 */
export const RESPONSE_BYTES_MAX = 4 * MIB;
/** DELETE_RANGE_KEYS_MAX is the most keys one delete (or txn op) may remove. */
export const DELETE_RANGE_KEYS_MAX = 10_000;
/** BATCH_REQUESTS_MAX is the most requests in one BatchRequest. */
export const BATCH_REQUESTS_MAX = 1024;
/** BATCH_BYTES_MAX caps one encoded BatchRequest. */
export const BATCH_BYTES_MAX = 8 * MIB;
/** SNAPSHOT_CHUNK_BYTES_MAX caps one encoded snapshot chunk. */
export const SNAPSHOT_CHUNK_BYTES_MAX = 1 * MIB;
/** SESSIONS_PER_GROUP_MAX_DEFAULT is the default bound of a group's client session table. */
export const SESSIONS_PER_GROUP_MAX_DEFAULT = 10_000;
/** SESSION_TTL_INDEXES_DEFAULT: a session unused for this many log indexes expires. */
export const SESSION_TTL_INDEXES_DEFAULT = 1_000_000;

/** TASK_OWNER_BYTES_MAX is the longest owner name of a task (free text for humans). */
export const TASK_OWNER_BYTES_MAX = 256;
/** CHECKPOINT_OPS_MAX caps the ops of one commit or staged chunk (bytes: requestBytesMax). */
export const CHECKPOINT_OPS_MAX = 100_000;
/** CHECKPOINT_OFFSETS_MAX caps the partitions of one task. */
export const CHECKPOINT_OFFSETS_MAX = 4_096;
/** TOPIC_CHARS_MAX is Kafka's longest topic name. */
export const TOPIC_CHARS_MAX = 249;
/** STAGE_CHUNKS_MAX caps the staged chunks one commit promotes. */
export const STAGE_CHUNKS_MAX = 64;
/** STAGE_CHUNK_BYTES_MAX is the encoded ops a client puts in one staged chunk. */
export const STAGE_CHUNK_BYTES_MAX = 1 * MIB;
/** CHECKPOINT_BYTES_MAX is the hard cap of one checkpoint's encoded ops, staged or not. */
export const CHECKPOINT_BYTES_MAX = STAGE_CHUNKS_MAX * STAGE_CHUNK_BYTES_MAX;

/** LIMITS gathers every limit of the KV layer under the name errors use for it. */
export const LIMITS = Object.freeze({
  keyBytesMax: KEY_BYTES_MAX,
  valueBytesMax: VALUE_BYTES_MAX,
  requestBytesMax: REQUEST_BYTES_MAX,
  txnOpsMax: TXN_OPS_MAX,
  rangeKeysMax: RANGE_KEYS_MAX,
  rangeBytesMax: RANGE_BYTES_MAX,
  responseBytesMax: RESPONSE_BYTES_MAX,
  deleteRangeKeysMax: DELETE_RANGE_KEYS_MAX,
  batchRequestsMax: BATCH_REQUESTS_MAX,
  batchBytesMax: BATCH_BYTES_MAX,
  snapshotChunkBytesMax: SNAPSHOT_CHUNK_BYTES_MAX,
  sessionsPerGroupMaxDefault: SESSIONS_PER_GROUP_MAX_DEFAULT,
  sessionTtlIndexesDefault: SESSION_TTL_INDEXES_DEFAULT,
  taskOwnerBytesMax: TASK_OWNER_BYTES_MAX,
  checkpointOpsMax: CHECKPOINT_OPS_MAX,
  checkpointOffsetsMax: CHECKPOINT_OFFSETS_MAX,
  stageChunksMax: STAGE_CHUNKS_MAX,
  stageChunkBytesMax: STAGE_CHUNK_BYTES_MAX,
  checkpointBytesMax: CHECKPOINT_BYTES_MAX,
});

/** LimitName is the name of one limit, as carried by LimitError.limit. */
export type LimitName = keyof typeof LIMITS;

/** checkBytes throws LimitError INVALID_ARGUMENT if `bytes` is longer than LIMITS[limit]. */
export function checkBytes(bytes: Uint8Array, limit: LimitName, what: string): void {
  const max = LIMITS[limit];
  if (bytes.length > max) throw new LimitError('INVALID_ARGUMENT', limit, what, bytes.length, max);
}

/** checkEncodedBytes throws LimitError RESOURCE_EXHAUSTED if an encoding is too long. */
export function checkEncodedBytes(length: number, limit: LimitName, what: string): void {
  const max = LIMITS[limit];
  if (length > max) throw new LimitError('RESOURCE_EXHAUSTED', limit, what, length, max);
}

/** checkCount throws LimitError INVALID_ARGUMENT if `count` is above LIMITS[limit]. */
function checkCount(count: number, limit: LimitName, what: string): void {
  const max = LIMITS[limit];
  if (count > max) throw new LimitError('INVALID_ARGUMENT', limit, what, count, max);
}

/** checkSelection checks a key selection's sizes and rules; `single` keys must be non-empty. */
function checkSelection(selection: KeySelection, path: string): void {
  checkBytes(selection.key, 'keyBytesMax', `${path}.key length`);
  checkBytes(selection.rangeEnd, 'keyBytesMax', `${path}.rangeEnd length`);
  if (selection.prefix && selection.rangeEnd.length > 0) {
    throw new KvError('INVALID_ARGUMENT', `${path}: prefix and rangeEnd are exclusive`);
  }
  if (!selection.prefix && selection.rangeEnd.length === 0 && selection.key.length === 0) {
    throw new KvError('INVALID_ARGUMENT', `${path}.key is empty`);
  }
}

/** checkRangeRequest checks a range request against the limits (`limit` is clamped, not here). */
export function checkRangeRequest(request: RangeRequest, path = 'range'): void {
  checkSelection(request, path);
  checkBytes(request.pageToken, 'keyBytesMax', `${path}.pageToken length`);
}

/** checkPutRequest checks a put: key non-empty and within limits, value within limits. */
export function checkPutRequest(request: PutRequest, path = 'put'): void {
  if (request.key.length === 0) throw new KvError('INVALID_ARGUMENT', `${path}.key is empty`);
  checkBytes(request.key, 'keyBytesMax', `${path}.key length`);
  checkBytes(request.value, 'valueBytesMax', `${path}.value length`);
}

/** checkDeleteRequest checks a delete's key selection. */
export function checkDeleteRequest(request: DeleteRequest, path = 'delete'): void {
  checkSelection(request, path);
}

/** checkCompare checks one txn compare: key, operand size, and Exists only with (not) equal. */
function checkCompare(compare: Compare, path: string): void {
  if (compare.key.length === 0) throw new KvError('INVALID_ARGUMENT', `${path}.key is empty`);
  checkBytes(compare.key, 'keyBytesMax', `${path}.key length`);
  if (compare.target === CompareTarget.Value) {
    checkBytes(compare.value, 'valueBytesMax', `${path}.value length`);
  }
  const ordered = compare.result === CompareResult.Greater || compare.result === CompareResult.Less;
  if (compare.target === CompareTarget.Exists && ordered) {
    throw new KvError('INVALID_ARGUMENT', `${path}: EXISTS compares only EQUAL or NOT_EQUAL`);
  }
}

/** checkRequestOps checks the ops of one txn branch. */
function checkRequestOps(ops: readonly RequestOp[], path: string): void {
  checkCount(ops.length, 'txnOpsMax', `${path} op count`);
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    const opPath = `${path}[${i}]`;
    switch (op.type) {
      case 'range':
        checkRangeRequest(op.range, `${opPath}.range`);
        break;
      case 'put':
        checkPutRequest(op.put, `${opPath}.put`);
        break;
      case 'delete':
        checkDeleteRequest(op.delete, `${opPath}.delete`);
        break;
      default:
        op satisfies never;
    }
  }
}

/** checkTxnRequest checks a txn: counts of compares and ops, and every one of them. */
export function checkTxnRequest(request: TxnRequest, path = 'txn'): void {
  if (request.task != null) {
    // The server turns a txn carrying a task operation into that operation's own command.
    throw new KvError('INVALID_ARGUMENT', `${path}: a task operation is not a txn op`);
  }
  checkCount(request.compare.length, 'txnOpsMax', `${path}.compare count`);
  for (let i = 0; i < request.compare.length; i++) {
    checkCompare(request.compare[i], `${path}.compare[${i}]`);
  }
  checkRequestOps(request.success, `${path}.success`);
  checkRequestOps(request.failure, `${path}.failure`);
}

/** checkCommand checks a decoded command: its session fields and its operation. */
export function checkCommand(command: Command): void {
  if (command.seq > 0 && command.clientId === 0) {
    throw new KvError('INVALID_ARGUMENT', `command seq ${command.seq} needs a non-zero clientId`);
  }
  const op = command.op;
  switch (op.type) {
    case 'put':
      checkPutRequest(op.put);
      break;
    case 'delete':
      checkDeleteRequest(op.delete);
      break;
    case 'txn':
      checkTxnRequest(op.txn);
      break;
    case 'acquireTask':
      checkAcquireTask(op.acquireTask);
      break;
    case 'commitCheckpoint':
      checkCommitCheckpoint(op.commitCheckpoint);
      break;
    case 'stageCheckpoint':
      checkStageCheckpoint(op.stageCheckpoint);
      break;
    default:
      op satisfies never;
  }
}

// ---- Stream-task operations ----

/** checkTaskId throws INVALID_ARGUMENT if `taskId` cannot be a task id (it would not route). */
export function checkTaskId(taskId: string, path: string): void {
  const problem = taskIdProblem(taskId);
  if (problem !== null) {
    throw new KvError('INVALID_ARGUMENT', `${path}: task id does not route: ${problem}`);
  }
}

/** checkAcquireTask checks an acquire: a valid task id and a bounded owner. */
export function checkAcquireTask(request: AcquireTaskRequest, path = 'acquireTask'): void {
  checkTaskId(request.taskId, `${path}.taskId`);
  const ownerBytes = Buffer.byteLength(request.owner);
  checkCount(ownerBytes, 'taskOwnerBytesMax', `${path}.owner length`);
}

/** checkCommitCheckpoint checks a commit: ids, counts, offsets and every op's keys. */
export function checkCommitCheckpoint(
  request: CommitCheckpointRequest,
  path = 'commitCheckpoint',
): void {
  checkTaskId(request.taskId, `${path}.taskId`);
  checkEpochSeq(request.epoch, request.seq, path);
  checkCount(request.stagedChunks, 'stageChunksMax', `${path}.stagedChunks`);
  checkTaskOffsets(request.offsets, `${path}.offsets`);
  checkCheckpointOps(request.taskId, request.ops, `${path}.ops`);
}

/** checkStageCheckpoint checks a staged chunk: ids, chunk number and every op's keys. */
export function checkStageCheckpoint(
  request: StageCheckpointRequest,
  path = 'stageCheckpoint',
): void {
  checkTaskId(request.taskId, `${path}.taskId`);
  checkEpochSeq(request.epoch, request.seq, path);
  checkCount(request.chunk + 1, 'stageChunksMax', `${path}.chunk + 1`);
  checkCheckpointOps(request.taskId, request.ops, `${path}.ops`);
}

function checkEpochSeq(epoch: number, seq: number, path: string): void {
  if (epoch < 1) throw new KvError('INVALID_ARGUMENT', `${path}.epoch must be >= 1`);
  if (seq < 1) throw new KvError('INVALID_ARGUMENT', `${path}.seq must be >= 1`);
}

/** checkTaskOffsets checks offsets: count, topic names, no partition listed twice. */
export function checkTaskOffsets(offsets: readonly TaskOffset[], path: string): void {
  checkCount(offsets.length, 'checkpointOffsetsMax', `${path} count`);
  const seen = new Set<string>();
  for (let i = 0; i < offsets.length; i++) {
    const { topic, partition } = offsets[i];
    if (topic.length === 0 || topic.length > TOPIC_CHARS_MAX) {
      const reason = `topic name of ${topic.length} characters (1 to ${TOPIC_CHARS_MAX})`;
      throw new KvError('INVALID_ARGUMENT', `${path}[${i}]: ${reason}`);
    }
    const name = `${topic}\u0000${partition}`;
    if (seen.has(name)) {
      throw new KvError('INVALID_ARGUMENT', `${path}[${i}]: ${topic}/${partition} listed twice`);
    }
    seen.add(name);
  }
}

/** checkCheckpointOps checks checkpoint ops: puts and deletes inside the task's own keys. */
export function checkCheckpointOps(taskId: string, ops: readonly RequestOp[], path: string): void {
  checkCount(ops.length, 'checkpointOpsMax', `${path} count`);
  const areas = taskAreas(taskId);
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    const opPath = `${path}[${i}]`;
    let problem: string | null;
    switch (op.type) {
      case 'put':
        checkPutRequest(op.put, `${opPath}.put`);
        if (op.put.prevKv) throw new KvError('INVALID_ARGUMENT', `${opPath}.put: no prevKv`);
        // One key: the allocation-free check (this runs per op, on every replica).
        problem = taskKeyWriteProblem(taskId, op.put.key, areas);
        break;
      case 'delete': {
        const selection = op.delete;
        checkDeleteRequest(selection, `${opPath}.delete`);
        if (selection.prevKv) throw new KvError('INVALID_ARGUMENT', `${opPath}.delete: no prevKv`);
        const single = !selection.prefix && selection.rangeEnd.length === 0;
        problem = single
          ? taskKeyWriteProblem(taskId, selection.key, areas)
          : taskWriteProblem(taskId, selectionRange(selection), areas);
        break;
      }
      case 'range':
        throw new KvError('INVALID_ARGUMENT', `${opPath}: a checkpoint only puts and deletes`);
      default:
        return op satisfies never;
    }
    if (problem !== null) throw new KvError('INVALID_ARGUMENT', `${opPath}: ${problem}`);
  }
}

/** selectionRange is the key range a (checked) selection covers. */
function selectionRange(selection: KeySelection): KeyRange {
  if (selection.prefix) return { start: selection.key, end: successorOfPrefix(selection.key) };
  const end = selection.rangeEnd;
  if (end.length === 0) return { start: selection.key, end: singleKeyEnd(selection.key) };
  if (end.length === 1 && end[0] === 0) return { start: selection.key, end: null };
  return { start: selection.key, end };
}
