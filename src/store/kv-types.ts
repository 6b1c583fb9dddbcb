/**
 * Plain types of the client KV API (proto/kv.proto): what kv-codec.ts decodes into and encodes
 * from, and what the state machine (sm-state-machine.ts) executes and answers. Plain data only;
 * every numeric enum equals the protobuf enum of the same name. Oneofs are tagged unions with a
 * `type` field. Byte fields are never null: absent is the shared EMPTY_BYTES.
 */
import type { GroupId, Index, NodeId } from '../raft/types.js';

/** ReadConsistency says how fresh a read must be (mirrors strata.kv.ReadConsistency). */
export enum ReadConsistency {
  Linearizable = 0,
  AtIndex = 1,
  Serializable = 2,
}

/** CompareResult is the relation a Compare checks (mirrors Compare.CompareResult). */
export enum CompareResult {
  Equal = 0,
  Greater = 1,
  Less = 2,
  NotEqual = 3,
}

/** CompareTarget is what a Compare looks at (mirrors Compare.CompareTarget). */
export enum CompareTarget {
  Value = 0,
  ModIndex = 1,
  Version = 2,
  Exists = 3,
}

/** KeyValue is one stored key. Invariant: 1 <= createIndex <= modIndex; version >= 1. */
export interface KeyValue {
  key: Uint8Array;
  /** value is empty when the read asked for keys only. */
  value: Uint8Array;
  /** modIndex is the Raft index of the entry that last wrote the key. */
  modIndex: Index;
  /** createIndex is the Raft index of the entry that created the key. */
  createIndex: Index;
  /** version counts writes since creation (1 after the creating put). */
  version: number;
}

/** RequestHeader routes a request and carries its client session (seq 0: no session). */
export interface RequestHeader {
  groupId: GroupId;
  epoch: number;
  clientId: number;
  seq: number;
}

/** ResponseHeader says where and as of which applied index a request was answered. */
export interface ResponseHeader {
  groupId: GroupId;
  appliedIndex: Index;
  /** leaderId is 0 when unknown (the state machine always leaves it 0; the server sets it). */
  leaderId: NodeId;
  /** epoch is the ring epoch (0 from the state machine; the server sets it). */
  epoch: number;
}

/**
 * KeySelection picks keys as etcd does (see RangeRequest in kv.proto): `key` alone; or
 * [key, rangeEnd) with rangeEnd = [0] meaning "every key >= key"; or `prefix` (rangeEnd empty).
 */
export interface KeySelection {
  key: Uint8Array;
  rangeEnd: Uint8Array;
  prefix: boolean;
}

/** RangeRequest reads keys; see kv.proto for every field. */
export interface RangeRequest extends KeySelection {
  /** limit is the most keys to return; 0 means the page limit (LIMITS.rangeKeysMax). */
  limit: number;
  /** pageToken is a previous response's nextPageToken, empty for the first page. */
  pageToken: Uint8Array;
  consistency: ReadConsistency;
  /** minIndex is the applied index required for ReadConsistency.AtIndex. */
  minIndex: Index;
  keysOnly: boolean;
  countOnly: boolean;
  header: RequestHeader | null;
}

/** RangeResponse is one page of keys in key order. */
export interface RangeResponse {
  header: ResponseHeader;
  kvs: KeyValue[];
  /** more is true when keys remain after this page (read them with nextPageToken). */
  more: boolean;
  /** count is the number of keys counted (countOnly) or returned (otherwise). */
  count: number;
  nextPageToken: Uint8Array;
}

/** PutRequest writes one key. */
export interface PutRequest {
  key: Uint8Array;
  value: Uint8Array;
  prevKv: boolean;
  header: RequestHeader | null;
}

/** PutResponse answers a put; prevKv is set only if asked for and the key existed. */
export interface PutResponse {
  header: ResponseHeader;
  prevKv: KeyValue | null;
}

/** DeleteRequest deletes the keys a KeySelection picks. */
export interface DeleteRequest extends KeySelection {
  prevKv: boolean;
  header: RequestHeader | null;
}

/** DeleteResponse answers a delete. */
export interface DeleteResponse {
  header: ResponseHeader;
  deleted: number;
  /** prevKvs holds the deleted keys in key order, only if asked for. */
  prevKvs: KeyValue[];
}

/**
 * Compare is one Txn condition on a key's current state. An absent key has modIndex 0,
 * version 0, exists false, and every Value comparison on it is false. Exists allows only
 * Equal and NotEqual (checked with the other limits, as INVALID_ARGUMENT).
 */
export type Compare = { key: Uint8Array; result: CompareResult } & (
  | { target: CompareTarget.Value; value: Uint8Array }
  | { target: CompareTarget.ModIndex; modIndex: Index }
  | { target: CompareTarget.Version; version: number }
  | { target: CompareTarget.Exists; exists: boolean }
);

/** RequestOp is one operation of a Txn branch. */
export type RequestOp =
  | { type: 'range'; range: RangeRequest }
  | { type: 'put'; put: PutRequest }
  | { type: 'delete'; delete: DeleteRequest };

/** ResponseOp answers one RequestOp. */
export type ResponseOp =
  | { type: 'range'; range: RangeResponse }
  | { type: 'put'; put: PutResponse }
  | { type: 'delete'; delete: DeleteResponse };

/** TxnRequest: if every compare holds run `success`, else `failure`; atomic, in order. */
export interface TxnRequest {
  compare: Compare[];
  success: RequestOp[];
  failure: RequestOp[];
  /**
   * task carries a stream-task operation instead of a txn (compare, success and failure then
   * empty); absent or null for a plain txn (decoded plain txns do not have the field).
   */
  task?: TaskRequest | null;
  header: RequestHeader | null;
}

/** TxnResponse answers a txn: succeeded says which branch ran; one response per op. */
export interface TxnResponse {
  header: ResponseHeader;
  succeeded: boolean;
  responses: ResponseOp[];
  /** task is the result of the request's task operation (absent or null for a plain txn). */
  task?: TaskResponse | null;
}

// ---- Stream tasks (proto/kv.proto, docs/stream-tasks.md) ----

/** TaskOffset is the next offset to read in one input partition. */
export interface TaskOffset {
  topic: string;
  partition: number;
  nextOffset: number;
}

/** CheckpointStats are what a client reports about a checkpoint (see kv.proto). */
export interface CheckpointStats {
  bytes: number;
  ops: number;
  records: number;
  createdAtMs: number;
  previousDurationMs: number;
}

/**
 * TaskMeta is a task's record (`{task:<id>}/meta`). Invariants: commitEpoch <= epoch;
 * snapshotIndex is 0 iff seq is 0; offsets sorted by (topic, partition), without duplicates.
 */
export interface TaskMeta {
  epoch: number;
  owner: string;
  seq: number;
  commitEpoch: number;
  offsets: TaskOffset[];
  snapshotIndex: Index;
  acquiredIndex: Index;
  stats: CheckpointStats | null;
}

/** AcquireTaskRequest bumps a task's epoch and makes `owner` its owner. */
export interface AcquireTaskRequest {
  taskId: string;
  owner: string;
}

/** AcquireTaskResponse is the new epoch and the last checkpoint. */
export interface AcquireTaskResponse {
  header: ResponseHeader;
  epoch: number;
  seq: number;
  offsets: TaskOffset[];
  snapshotIndex: Index;
}

/** CommitCheckpointRequest is one checkpoint (see kv.proto for the rules). */
export interface CommitCheckpointRequest {
  taskId: string;
  epoch: number;
  seq: number;
  /** ops are puts and deletes only (a range op is refused). */
  ops: RequestOp[];
  offsets: TaskOffset[];
  stagedChunks: number;
  stats: CheckpointStats | null;
}

/** CommitCheckpointResponse says which entry holds the checkpoint. */
export interface CommitCheckpointResponse {
  header: ResponseHeader;
  epoch: number;
  seq: number;
  snapshotIndex: Index;
  deduplicated: boolean;
}

/** StageCheckpointRequest stores one chunk of a large checkpoint's ops. */
export interface StageCheckpointRequest {
  taskId: string;
  epoch: number;
  seq: number;
  chunk: number;
  ops: RequestOp[];
}

/** StageCheckpointResponse acknowledges a staged chunk. */
export interface StageCheckpointResponse {
  header: ResponseHeader;
  chunk: number;
}

/** TaskRequest is a task operation carried by a TxnRequest. */
export type TaskRequest =
  | { type: 'acquire'; acquire: AcquireTaskRequest }
  | { type: 'commit'; commit: CommitCheckpointRequest }
  | { type: 'stage'; stage: StageCheckpointRequest };

/** TaskResponse is a task operation's result carried by a TxnResponse. */
export type TaskResponse =
  | { type: 'acquire'; acquire: AcquireTaskResponse }
  | { type: 'commit'; commit: CommitCheckpointResponse }
  | { type: 'stage'; stage: StageCheckpointResponse };

/** CommandOp is the operation of a Command. */
export type CommandOp =
  | { type: 'put'; put: PutRequest }
  | { type: 'delete'; delete: DeleteRequest }
  | { type: 'txn'; txn: TxnRequest }
  | { type: 'acquireTask'; acquireTask: AcquireTaskRequest }
  | { type: 'commitCheckpoint'; commitCheckpoint: CommitCheckpointRequest }
  | { type: 'stageCheckpoint'; stageCheckpoint: StageCheckpointRequest };

/** Command is the data of a NORMAL Raft entry of a store group. seq 0: no session. */
export interface Command {
  clientId: number;
  seq: number;
  op: CommandOp;
}

/** CommandResponse is the successful answer of a Command, tagged like CommandOp. */
export type CommandResponse =
  | { type: 'put'; put: PutResponse }
  | { type: 'delete'; delete: DeleteResponse }
  | { type: 'txn'; txn: TxnResponse }
  | { type: 'acquireTask'; acquireTask: AcquireTaskResponse }
  | { type: 'commitCheckpoint'; commitCheckpoint: CommitCheckpointResponse }
  | { type: 'stageCheckpoint'; stageCheckpoint: StageCheckpointResponse };

/** ErrorStatus is a typed failure on the wire (see KvError for the codes). */
export interface ErrorStatus {
  code: string;
  message: string;
  /** limit names the LIMITS entry exceeded, '' if none. */
  limit: string;
  leaderId: NodeId;
  epoch: number;
}

/** CommandResult is a command's outcome, as stored in its client session. */
export type CommandResult = CommandResponse | { type: 'error'; error: ErrorStatus };

/** AnyRequest is one client request of a batch, tagged by kind. */
export type AnyRequest =
  | { type: 'range'; range: RangeRequest }
  | { type: 'put'; put: PutRequest }
  | { type: 'delete'; delete: DeleteRequest }
  | { type: 'txn'; txn: TxnRequest };

/** AnyResponse is the answer to one AnyRequest, or a typed error. */
export type AnyResponse =
  | { type: 'range'; range: RangeResponse }
  | { type: 'put'; put: PutResponse }
  | { type: 'delete'; delete: DeleteResponse }
  | { type: 'txn'; txn: TxnResponse }
  | { type: 'error'; error: ErrorStatus };

/** TaggedRequest is one request of a BatchRequest with the client's request id. */
export interface TaggedRequest {
  requestId: number;
  request: AnyRequest;
}

/** TaggedResponse answers the TaggedRequest with the same requestId. */
export interface TaggedResponse {
  requestId: number;
  response: AnyResponse;
}

/** BatchRequest carries many pipelined requests in one stream message. */
export interface BatchRequest {
  requests: TaggedRequest[];
}

/** BatchResponse carries answers, in any order. */
export interface BatchResponse {
  responses: TaggedResponse[];
}
