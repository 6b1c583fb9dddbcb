/**
 * Codec of the client KV API: the plain types of kv-types.ts to and from protobuf
 * (proto/kv.proto), through the static code pbjs generates into ./kv-gen
 * (`npm run gen:proto`), as src/raft/codec.ts does for the Raft wire.
 *
 * Decoding is an edge, so every decoded value is validated here, once: uint64 fields must be
 * safe integers (at most 2^53 - 1), enums known values, oneofs set where required, a Compare's
 * operand must match its target, and the encoded input must fit its size limit (LimitError
 * RESOURCE_EXHAUSTED naming `requestBytesMax` or `batchBytesMax`). Any other failure, including
 * bytes that are not protobuf at all, throws MalformedError (code MALFORMED) naming the field;
 * nothing else escapes a decode function. The limits on keys, values and op counts are checked
 * separately (kv-limits.ts), so that a well-formed but too-big request gets INVALID_ARGUMENT.
 * Decoded byte fields never alias the caller's buffer (the input is copied once) and are the
 * shared EMPTY_BYTES when empty. Unknown fields are skipped (forward compatibility).
 *
 * Encoding trusts its typed input but checks the numbers it writes as uint64 cheaply: a value
 * that cannot be encoded (negative, fractional, unsafe) is a caller bug and fails an assertion.
 */
import { AssertionFailure } from '../raft/errors.js';
import { NumberReader, asWire, uint64ToSafeNumber, type WireLong } from '../raft/wire-numbers.js';
import { EMPTY_BYTES, type GroupId, type NodeId } from '../raft/types.js';
import { MalformedError } from './kv-errors.js';
import { strata } from './kv-gen/kv.js';
import type { strata as pb } from './kv-gen/kv-types.js';
import { checkEncodedBytes, type LimitName } from './kv-limits.js';
import {
  CompareResult,
  CompareTarget,
  ReadConsistency,
  type AcquireTaskRequest,
  type AcquireTaskResponse,
  type CheckpointStats,
  type CommitCheckpointRequest,
  type CommitCheckpointResponse,
  type StageCheckpointRequest,
  type StageCheckpointResponse,
  type TaskMeta,
  type TaskOffset,
  type TaskRequest,
  type TaskResponse,
  type AnyRequest,
  type AnyResponse,
  type BatchRequest,
  type BatchResponse,
  type Command,
  type CommandResult,
  type Compare,
  type DeleteRequest,
  type DeleteResponse,
  type ErrorStatus,
  type KeyValue,
  type PutRequest,
  type PutResponse,
  type RangeRequest,
  type RangeResponse,
  type RequestHeader,
  type RequestOp,
  type ResponseHeader,
  type ResponseOp,
  type TxnRequest,
  type TxnResponse,
} from './kv-types.js';

const wire = strata.kv;

// ---- Public encode / decode pairs ----

/** encodeCommand encodes a Raft command (the data of a NORMAL entry). */
export function encodeCommand(command: Command): Uint8Array {
  checkUint64(command.clientId, 'command.clientId');
  checkUint64(command.seq, 'command.seq');
  const op = command.op;
  const message = { clientId: command.clientId, seq: command.seq, [op.type]: opBody(op) };
  return wire.Command.encode(asWire(message)).finish();
}

/** decodeCommand decodes and validates a Raft command; throws MalformedError or LimitError. */
export function decodeCommand(bytes: Uint8Array): Command {
  const decoded = decodeWire('Command', bytes, 'requestBytesMax', (b) => wire.Command.decode(b));
  const t = 'Command';
  const clientId = toSafeNumber(decoded.clientId, t, '', 'clientId');
  const seq = toSafeNumber(decoded.seq, t, '', 'seq');
  switch (decoded.op) {
    case 'put':
      return { clientId, seq, op: { type: 'put', put: putRequestFromWire(decoded.put, t, 'put') } };
    case 'delete': {
      const request = deleteRequestFromWire(decoded.delete, t, 'delete');
      return { clientId, seq, op: { type: 'delete', delete: request } };
    }
    case 'txn':
      return { clientId, seq, op: { type: 'txn', txn: txnRequestFromWire(decoded.txn, t, 'txn') } };
    case 'acquireTask': {
      const acquireTask = acquireTaskRequestFromWire(decoded.acquireTask, t, 'acquireTask');
      return { clientId, seq, op: { type: 'acquireTask', acquireTask } };
    }
    case 'commitCheckpoint': {
      const request = commitRequestFromWire(decoded.commitCheckpoint, t, 'commitCheckpoint');
      return { clientId, seq, op: { type: 'commitCheckpoint', commitCheckpoint: request } };
    }
    case 'stageCheckpoint': {
      const request = stageRequestFromWire(decoded.stageCheckpoint, t, 'stageCheckpoint');
      return { clientId, seq, op: { type: 'stageCheckpoint', stageCheckpoint: request } };
    }
    default:
      throw new MalformedError(t, 'op', 'no operation set (or one this version does not know)');
  }
}

/** encodeCommandResult encodes a command's outcome (a session's stored reply). */
export function encodeCommandResult(result: CommandResult): Uint8Array {
  return wire.CommandResult.encode(result).finish();
}

/** decodeCommandResult decodes and validates a command's outcome; throws MalformedError. */
export function decodeCommandResult(bytes: Uint8Array): CommandResult {
  const t = 'CommandResult';
  const decoded = decodeWire(t, bytes, null, (b) => wire.CommandResult.decode(b));
  switch (decoded.result) {
    case 'acquireTask': {
      const acquireTask = acquireTaskResponseFromWire(decoded.acquireTask, t, 'acquireTask');
      return { type: 'acquireTask', acquireTask };
    }
    case 'commitCheckpoint': {
      const response = commitResponseFromWire(decoded.commitCheckpoint, t, 'commitCheckpoint');
      return { type: 'commitCheckpoint', commitCheckpoint: response };
    }
    case 'stageCheckpoint': {
      const response = stageResponseFromWire(decoded.stageCheckpoint, t, 'stageCheckpoint');
      return { type: 'stageCheckpoint', stageCheckpoint: response };
    }
    default:
      break;
  }
  const response = anyResponseFromWire(decoded, decoded.result, t, '');
  if (response.type === 'range') {
    throw new MalformedError(t, 'result', 'a range is not a command result');
  }
  return response;
}

/** encodeTaskMeta encodes a task's record (the value of `{task:<id>}/meta`). */
export function encodeTaskMeta(meta: TaskMeta): Uint8Array {
  checkUint64(meta.epoch, 'taskMeta.epoch');
  checkUint64(meta.seq, 'taskMeta.seq');
  checkUint64(meta.snapshotIndex, 'taskMeta.snapshotIndex');
  return wire.TaskMeta.encode(asWire(meta)).finish();
}

/** decodeTaskMeta decodes and validates a task's record; throws MalformedError. */
export function decodeTaskMeta(bytes: Uint8Array): TaskMeta {
  const t = 'TaskMeta';
  const m = decodeWire(t, bytes, null, (b) => wire.TaskMeta.decode(b));
  return {
    epoch: toSafeNumber(m.epoch, t, '', 'epoch'),
    owner: m.owner ?? '',
    seq: toSafeNumber(m.seq, t, '', 'seq'),
    commitEpoch: toSafeNumber(m.commitEpoch, t, '', 'commitEpoch'),
    offsets: taskOffsetsFromWire(m.offsets, t, 'offsets'),
    snapshotIndex: toSafeNumber(m.snapshotIndex, t, '', 'snapshotIndex'),
    acquiredIndex: toSafeNumber(m.acquiredIndex, t, '', 'acquiredIndex'),
    stats: m.stats == null ? null : statsFromWire(m.stats, t, 'stats'),
  };
}

/** encodeStagedChunk encodes the stored value of one staged checkpoint chunk. */
export function encodeStagedChunk(ops: readonly RequestOp[]): Uint8Array {
  return wire.StagedChunk.encode(asWire({ ops })).finish();
}

/** decodeStagedChunk decodes a staged chunk's ops; throws MalformedError. */
export function decodeStagedChunk(bytes: Uint8Array): RequestOp[] {
  const t = 'StagedChunk';
  const decoded = decodeWire(t, bytes, null, (b) => wire.StagedChunk.decode(b));
  return (decoded.ops ?? []).map((op, i) => requestOpFromWire(op, t, `ops[${i}]`));
}

/** encodedRequestOpBytes is the encoded size of ops as a repeated RequestOp field. */
export function encodedRequestOpBytes(ops: readonly RequestOp[]): number {
  return encodeStagedChunk(ops).length;
}

/** encodeRangeRequest encodes a range request. */
export function encodeRangeRequest(request: RangeRequest): Uint8Array {
  return wire.RangeRequest.encode(asWire(request)).finish();
}

/** decodeRangeRequest decodes and validates a range request. */
export function decodeRangeRequest(bytes: Uint8Array): RangeRequest {
  const t = 'RangeRequest';
  const decoded = decodeWire(t, bytes, 'requestBytesMax', (b) => wire.RangeRequest.decode(b));
  return rangeRequestFromWire(decoded, t, '');
}

/** encodeRangeResponse encodes a range response. */
export function encodeRangeResponse(response: RangeResponse): Uint8Array {
  return wire.RangeResponse.encode(response).finish();
}

/** decodeRangeResponse decodes and validates a range response. */
export function decodeRangeResponse(bytes: Uint8Array): RangeResponse {
  const t = 'RangeResponse';
  return rangeResponseFromWire(
    decodeWire(t, bytes, null, (b) => wire.RangeResponse.decode(b)),
    t,
    '',
  );
}

/** encodePutRequest encodes a put request. */
export function encodePutRequest(request: PutRequest): Uint8Array {
  return wire.PutRequest.encode(request).finish();
}

/** decodePutRequest decodes and validates a put request. */
export function decodePutRequest(bytes: Uint8Array): PutRequest {
  const t = 'PutRequest';
  const decoded = decodeWire(t, bytes, 'requestBytesMax', (b) => wire.PutRequest.decode(b));
  return putRequestFromWire(decoded, t, '');
}

/** encodePutResponse encodes a put response. */
export function encodePutResponse(response: PutResponse): Uint8Array {
  return wire.PutResponse.encode(response).finish();
}

/** decodePutResponse decodes and validates a put response. */
export function decodePutResponse(bytes: Uint8Array): PutResponse {
  const t = 'PutResponse';
  return putResponseFromWire(
    decodeWire(t, bytes, null, (b) => wire.PutResponse.decode(b)),
    t,
    '',
  );
}

/** encodeDeleteRequest encodes a delete request. */
export function encodeDeleteRequest(request: DeleteRequest): Uint8Array {
  return wire.DeleteRequest.encode(request).finish();
}

/** decodeDeleteRequest decodes and validates a delete request. */
export function decodeDeleteRequest(bytes: Uint8Array): DeleteRequest {
  const t = 'DeleteRequest';
  const decoded = decodeWire(t, bytes, 'requestBytesMax', (b) => wire.DeleteRequest.decode(b));
  return deleteRequestFromWire(decoded, t, '');
}

/** encodeDeleteResponse encodes a delete response. */
export function encodeDeleteResponse(response: DeleteResponse): Uint8Array {
  return wire.DeleteResponse.encode(response).finish();
}

/** decodeDeleteResponse decodes and validates a delete response. */
export function decodeDeleteResponse(bytes: Uint8Array): DeleteResponse {
  const t = 'DeleteResponse';
  const decoded = decodeWire(t, bytes, null, (b) => wire.DeleteResponse.decode(b));
  return deleteResponseFromWire(decoded, t, '');
}

/** encodeTxnRequest encodes a txn request. */
export function encodeTxnRequest(request: TxnRequest): Uint8Array {
  return wire.TxnRequest.encode(asWire(request)).finish();
}

/** decodeTxnRequest decodes and validates a txn request. */
export function decodeTxnRequest(bytes: Uint8Array): TxnRequest {
  const t = 'TxnRequest';
  const decoded = decodeWire(t, bytes, 'requestBytesMax', (b) => wire.TxnRequest.decode(b));
  return txnRequestFromWire(decoded, t, '');
}

/** encodeTxnResponse encodes a txn response. */
export function encodeTxnResponse(response: TxnResponse): Uint8Array {
  return wire.TxnResponse.encode(response).finish();
}

/** decodeTxnResponse decodes and validates a txn response. */
export function decodeTxnResponse(bytes: Uint8Array): TxnResponse {
  const t = 'TxnResponse';
  return txnResponseFromWire(
    decodeWire(t, bytes, null, (b) => wire.TxnResponse.decode(b)),
    t,
    '',
  );
}

/** encodeBatchRequest encodes pipelined requests. */
export function encodeBatchRequest(batch: BatchRequest): Uint8Array {
  const requests = batch.requests.map((tagged) => {
    checkUint64(tagged.requestId, 'batch.requests[].requestId');
    const request = tagged.request;
    return { requestId: tagged.requestId, [request.type]: anyBody(request) };
  });
  return wire.BatchRequest.encode(asWire({ requests })).finish();
}

/** decodeBatchRequest decodes and validates pipelined requests (at most batchRequestsMax). */
export function decodeBatchRequest(bytes: Uint8Array): BatchRequest {
  const t = 'BatchRequest';
  const decoded = decodeWire(t, bytes, 'batchBytesMax', (b) => wire.BatchRequest.decode(b));
  const wireRequests = decoded.requests ?? [];
  checkEncodedBytes(wireRequests.length, 'batchRequestsMax', 'BatchRequest request count');
  const requests = wireRequests.map((tagged, i) => {
    const at = `requests[${i}]`;
    const requestId = toSafeNumber(tagged.requestId, t, at, 'requestId');
    return { requestId, request: anyRequestFromWire(tagged, tagged.request, t, at) };
  });
  return { requests };
}

/** encodeBatchResponse encodes answers to pipelined requests. */
export function encodeBatchResponse(batch: BatchResponse): Uint8Array {
  const responses = batch.responses.map((tagged) => {
    checkUint64(tagged.requestId, 'batch.responses[].requestId');
    const response = tagged.response;
    return { requestId: tagged.requestId, [response.type]: anyBody(response) };
  });
  return wire.BatchResponse.encode({ responses }).finish();
}

/** decodeBatchResponse decodes and validates answers to pipelined requests. */
export function decodeBatchResponse(bytes: Uint8Array): BatchResponse {
  const t = 'BatchResponse';
  const decoded = decodeWire(t, bytes, null, (b) => wire.BatchResponse.decode(b));
  const responses = (decoded.responses ?? []).map((tagged, i) => {
    const at = `responses[${i}]`;
    const requestId = toSafeNumber(tagged.requestId, t, at, 'requestId');
    return { requestId, response: anyResponseFromWire(tagged, tagged.response, t, at) };
  });
  return { responses };
}

// ---- Decoding: wire objects to validated plain values ----

/**
 * decodeWire checks the input's type and size, then runs a generated decoder on a private copy
 * of `bytes` (so decoded byte fields neither alias nor pin the caller's buffer) and turns
 * whatever it throws into a MalformedError.
 */
function decodeWire<T>(
  typeName: string,
  bytes: Uint8Array,
  limit: LimitName | null,
  decode: (reader: NumberReader) => T,
): T {
  if (!(bytes instanceof Uint8Array)) {
    throw new MalformedError(typeName, '', `expected a Uint8Array, got ${typeof bytes}`);
  }
  if (limit !== null) checkEncodedBytes(bytes.length, limit, `${typeName} size`);
  try {
    return decode(new NumberReader(new Uint8Array(bytes)));
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new MalformedError(typeName, '', `malformed protobuf (${detail})`, { cause: error });
  }
}

/** fieldPath joins a path prefix and a field name. */
function fieldPath(at: string, field: string): string {
  return at === '' ? field : `${at}.${field}`;
}

/** toSafeNumber converts a decoded uint64 to a number, rejecting values above 2^53 - 1. */
function toSafeNumber(
  value: number | WireLong | null | undefined,
  typeName: string,
  at: string,
  field: string,
): number {
  const result = uint64ToSafeNumber(value);
  if (typeof result === 'string') throw new MalformedError(typeName, fieldPath(at, field), result);
  return result;
}

/** toEnum checks a decoded enum number against a TypeScript numeric enum's values. */
function toEnum<E extends number>(
  value: number | null | undefined,
  names: Record<number, string | undefined>,
  typeName: string,
  at: string,
  field: string,
): E {
  const number = value ?? 0;
  if (typeof names[number] !== 'string') {
    throw new MalformedError(typeName, fieldPath(at, field), `unknown enum value ${number}`);
  }
  return number as E;
}

/** bytesFromWire returns decoded bytes, or the shared EMPTY_BYTES when there are none. */
function bytesFromWire(value: Uint8Array | null | undefined): Uint8Array {
  return value == null || value.length === 0 ? EMPTY_BYTES : value;
}

/** present returns a required sub-message or throws MalformedError naming it. */
function present<T>(value: T | null | undefined, typeName: string, at: string): T {
  if (value == null) throw new MalformedError(typeName, at, 'required message is missing');
  return value;
}

function requestHeaderFromWire(
  decoded: pb.kv.RequestHeader.$Properties | null | undefined,
  typeName: string,
  at: string,
): RequestHeader | null {
  if (decoded == null) return null;
  const path = fieldPath(at, 'header');
  return {
    groupId: (decoded.groupId ?? 0) as GroupId, // uint32 on the wire: always safe
    epoch: toSafeNumber(decoded.epoch, typeName, path, 'epoch'),
    clientId: toSafeNumber(decoded.clientId, typeName, path, 'clientId'),
    seq: toSafeNumber(decoded.seq, typeName, path, 'seq'),
  };
}

function responseHeaderFromWire(
  decoded: pb.kv.ResponseHeader.$Properties | null | undefined,
  typeName: string,
  at: string,
): ResponseHeader {
  const path = fieldPath(at, 'header');
  const header = decoded ?? {};
  return {
    groupId: (header.groupId ?? 0) as GroupId,
    appliedIndex: toSafeNumber(header.appliedIndex, typeName, path, 'appliedIndex'),
    leaderId: toSafeNumber(header.leaderId, typeName, path, 'leaderId') as NodeId,
    epoch: toSafeNumber(header.epoch, typeName, path, 'epoch'),
  };
}

function errorStatusFromWire(
  decoded: pb.kv.ErrorStatus.$Properties,
  typeName: string,
  at: string,
): ErrorStatus {
  return {
    code: decoded.code ?? '',
    message: decoded.message ?? '',
    limit: decoded.limit ?? '',
    leaderId: toSafeNumber(decoded.leaderId, typeName, at, 'leaderId') as NodeId,
    epoch: toSafeNumber(decoded.epoch, typeName, at, 'epoch'),
  };
}

function keyValueFromWire(
  decoded: pb.kv.KeyValue.$Properties,
  typeName: string,
  at: string,
): KeyValue {
  return {
    key: bytesFromWire(decoded.key),
    value: bytesFromWire(decoded.value),
    modIndex: toSafeNumber(decoded.modIndex, typeName, at, 'modIndex'),
    createIndex: toSafeNumber(decoded.createIndex, typeName, at, 'createIndex'),
    version: toSafeNumber(decoded.version, typeName, at, 'version'),
  };
}

function keyValuesFromWire(
  decoded: readonly pb.kv.KeyValue.$Properties[] | null | undefined,
  typeName: string,
  at: string,
): KeyValue[] {
  return (decoded ?? []).map((kv, i) => keyValueFromWire(kv, typeName, `${at}[${i}]`));
}

function rangeRequestFromWire(
  decoded: pb.kv.RangeRequest.$Properties | null | undefined,
  typeName: string,
  at: string,
): RangeRequest {
  const request = present(decoded, typeName, at);
  return {
    key: bytesFromWire(request.key),
    rangeEnd: bytesFromWire(request.rangeEnd),
    prefix: request.prefix === true,
    limit: toSafeNumber(request.limit, typeName, at, 'limit'),
    pageToken: bytesFromWire(request.pageToken),
    consistency: toEnum(request.consistency, ReadConsistency, typeName, at, 'consistency'),
    minIndex: toSafeNumber(request.minIndex, typeName, at, 'minIndex'),
    keysOnly: request.keysOnly === true,
    countOnly: request.countOnly === true,
    header: requestHeaderFromWire(request.header, typeName, at),
  };
}

function rangeResponseFromWire(
  decoded: pb.kv.RangeResponse.$Properties | null | undefined,
  typeName: string,
  at: string,
): RangeResponse {
  const response = present(decoded, typeName, at);
  return {
    header: responseHeaderFromWire(response.header, typeName, at),
    kvs: keyValuesFromWire(response.kvs, typeName, fieldPath(at, 'kvs')),
    more: response.more === true,
    count: toSafeNumber(response.count, typeName, at, 'count'),
    nextPageToken: bytesFromWire(response.nextPageToken),
  };
}

function putRequestFromWire(
  decoded: pb.kv.PutRequest.$Properties | null | undefined,
  typeName: string,
  at: string,
): PutRequest {
  const request = present(decoded, typeName, at);
  return {
    key: bytesFromWire(request.key),
    value: bytesFromWire(request.value),
    prevKv: request.prevKv === true,
    header: requestHeaderFromWire(request.header, typeName, at),
  };
}

function putResponseFromWire(
  decoded: pb.kv.PutResponse.$Properties | null | undefined,
  typeName: string,
  at: string,
): PutResponse {
  const response = present(decoded, typeName, at);
  const prev = response.prevKv;
  return {
    header: responseHeaderFromWire(response.header, typeName, at),
    prevKv: prev == null ? null : keyValueFromWire(prev, typeName, fieldPath(at, 'prevKv')),
  };
}

function deleteRequestFromWire(
  decoded: pb.kv.DeleteRequest.$Properties | null | undefined,
  typeName: string,
  at: string,
): DeleteRequest {
  const request = present(decoded, typeName, at);
  return {
    key: bytesFromWire(request.key),
    rangeEnd: bytesFromWire(request.rangeEnd),
    prefix: request.prefix === true,
    prevKv: request.prevKv === true,
    header: requestHeaderFromWire(request.header, typeName, at),
  };
}

function deleteResponseFromWire(
  decoded: pb.kv.DeleteResponse.$Properties | null | undefined,
  typeName: string,
  at: string,
): DeleteResponse {
  const response = present(decoded, typeName, at);
  return {
    header: responseHeaderFromWire(response.header, typeName, at),
    deleted: toSafeNumber(response.deleted, typeName, at, 'deleted'),
    prevKvs: keyValuesFromWire(response.prevKvs, typeName, fieldPath(at, 'prevKvs')),
  };
}

/** compareFromWire validates a Compare: enums known, the operand set matches the target. */
function compareFromWire(
  decoded: pb.kv.Compare.$Properties,
  typeName: string,
  at: string,
): Compare {
  const key = bytesFromWire(decoded.key);
  const result = toEnum<CompareResult>(decoded.result, CompareResult, typeName, at, 'result');
  const target = toEnum<CompareTarget>(decoded.target, CompareTarget, typeName, at, 'target');
  const operand = decoded.targetUnion;
  const expected = COMPARE_OPERANDS[target];
  if (operand !== undefined && operand !== expected) {
    const reason = `operand ${operand} does not match target ${CompareTarget[target]}`;
    throw new MalformedError(typeName, fieldPath(at, 'targetUnion'), reason);
  }
  switch (target) {
    case CompareTarget.Value:
      return { key, result, target, value: bytesFromWire(decoded.value) };
    case CompareTarget.ModIndex:
      return {
        key,
        result,
        target,
        modIndex: toSafeNumber(decoded.modIndex, typeName, at, 'modIndex'),
      };
    case CompareTarget.Version:
      return {
        key,
        result,
        target,
        version: toSafeNumber(decoded.version, typeName, at, 'version'),
      };
    case CompareTarget.Exists:
      return { key, result, target, exists: decoded.exists === true };
    default:
      return target satisfies never;
  }
}

/** COMPARE_OPERANDS names the oneof field that holds each target's operand. */
const COMPARE_OPERANDS: Record<CompareTarget, 'value' | 'modIndex' | 'version' | 'exists'> = {
  [CompareTarget.Value]: 'value',
  [CompareTarget.ModIndex]: 'modIndex',
  [CompareTarget.Version]: 'version',
  [CompareTarget.Exists]: 'exists',
};

function requestOpFromWire(
  decoded: pb.kv.RequestOp.$Properties,
  typeName: string,
  at: string,
): RequestOp {
  const request = anyRequestFromWire(decoded, decoded.request, typeName, at);
  if (request.type === 'txn') throw new MalformedError(typeName, at, 'nested txn');
  return request;
}

function txnRequestFromWire(
  decoded: pb.kv.TxnRequest.$Properties | null | undefined,
  typeName: string,
  at: string,
): TxnRequest {
  const request = present(decoded, typeName, at);
  const compares = request.compare ?? [];
  const success = request.success ?? [];
  const failure = request.failure ?? [];
  return {
    compare: compares.map((c, i) => compareFromWire(c, typeName, fieldPath(at, `compare[${i}]`))),
    success: success.map((op, i) =>
      requestOpFromWire(op, typeName, fieldPath(at, `success[${i}]`)),
    ),
    failure: failure.map((op, i) =>
      requestOpFromWire(op, typeName, fieldPath(at, `failure[${i}]`)),
    ),
    header: requestHeaderFromWire(request.header, typeName, at),
    // Only a txn carrying a task operation has the field (plain txns decode as before).
    ...(request.task == null ? {} : { task: taskRequestFromWire(request.task, typeName, at) }),
  };
}

function responseOpFromWire(
  decoded: pb.kv.ResponseOp.$Properties,
  typeName: string,
  at: string,
): ResponseOp {
  const response = anyResponseFromWire(decoded, decoded.response, typeName, at);
  if (response.type === 'txn' || response.type === 'error') {
    throw new MalformedError(typeName, at, `a ${response.type} is not a txn op response`);
  }
  return response;
}

function txnResponseFromWire(
  decoded: pb.kv.TxnResponse.$Properties | null | undefined,
  typeName: string,
  at: string,
): TxnResponse {
  const response = present(decoded, typeName, at);
  const ops = response.responses ?? [];
  return {
    header: responseHeaderFromWire(response.header, typeName, at),
    succeeded: response.succeeded === true,
    responses: ops.map((op, i) =>
      responseOpFromWire(op, typeName, fieldPath(at, `responses[${i}]`)),
    ),
    ...(response.task == null ? {} : { task: taskResponseFromWire(response.task, typeName, at) }),
  };
}

// ---- Stream-task messages ----

function taskOffsetsFromWire(
  decoded: readonly pb.kv.TaskOffset.$Properties[] | null | undefined,
  typeName: string,
  at: string,
): TaskOffset[] {
  return (decoded ?? []).map((offset, i) => ({
    topic: offset.topic ?? '',
    partition: offset.partition ?? 0,
    nextOffset: toSafeNumber(offset.nextOffset, typeName, `${at}[${i}]`, 'nextOffset'),
  }));
}

function statsFromWire(
  decoded: pb.kv.CheckpointStats.$Properties,
  typeName: string,
  at: string,
): CheckpointStats {
  return {
    bytes: toSafeNumber(decoded.bytes, typeName, at, 'bytes'),
    ops: toSafeNumber(decoded.ops, typeName, at, 'ops'),
    records: toSafeNumber(decoded.records, typeName, at, 'records'),
    createdAtMs: toSafeNumber(decoded.createdAtMs, typeName, at, 'createdAtMs'),
    previousDurationMs: toSafeNumber(
      decoded.previousDurationMs,
      typeName,
      at,
      'previousDurationMs',
    ),
  };
}

function opsFromWire(
  decoded: readonly pb.kv.RequestOp.$Properties[] | null | undefined,
  typeName: string,
  at: string,
): RequestOp[] {
  return (decoded ?? []).map((op, i) => requestOpFromWire(op, typeName, `${at}[${i}]`));
}

function acquireTaskRequestFromWire(
  decoded: pb.kv.AcquireTaskRequest.$Properties | null | undefined,
  typeName: string,
  at: string,
): AcquireTaskRequest {
  const request = present(decoded, typeName, at);
  return { taskId: request.taskId ?? '', owner: request.owner ?? '' };
}

function acquireTaskResponseFromWire(
  decoded: pb.kv.AcquireTaskResponse.$Properties | null | undefined,
  typeName: string,
  at: string,
): AcquireTaskResponse {
  const response = present(decoded, typeName, at);
  return {
    header: responseHeaderFromWire(response.header, typeName, at),
    epoch: toSafeNumber(response.epoch, typeName, at, 'epoch'),
    seq: toSafeNumber(response.seq, typeName, at, 'seq'),
    offsets: taskOffsetsFromWire(response.offsets, typeName, fieldPath(at, 'offsets')),
    snapshotIndex: toSafeNumber(response.snapshotIndex, typeName, at, 'snapshotIndex'),
  };
}

function commitRequestFromWire(
  decoded: pb.kv.CommitCheckpointRequest.$Properties | null | undefined,
  typeName: string,
  at: string,
): CommitCheckpointRequest {
  const request = present(decoded, typeName, at);
  return {
    taskId: request.taskId ?? '',
    epoch: toSafeNumber(request.epoch, typeName, at, 'epoch'),
    seq: toSafeNumber(request.seq, typeName, at, 'seq'),
    ops: opsFromWire(request.ops, typeName, fieldPath(at, 'ops')),
    offsets: taskOffsetsFromWire(request.offsets, typeName, fieldPath(at, 'offsets')),
    stagedChunks: request.stagedChunks ?? 0,
    stats: request.stats == null ? null : statsFromWire(request.stats, typeName, at),
  };
}

function commitResponseFromWire(
  decoded: pb.kv.CommitCheckpointResponse.$Properties | null | undefined,
  typeName: string,
  at: string,
): CommitCheckpointResponse {
  const response = present(decoded, typeName, at);
  return {
    header: responseHeaderFromWire(response.header, typeName, at),
    epoch: toSafeNumber(response.epoch, typeName, at, 'epoch'),
    seq: toSafeNumber(response.seq, typeName, at, 'seq'),
    snapshotIndex: toSafeNumber(response.snapshotIndex, typeName, at, 'snapshotIndex'),
    deduplicated: response.deduplicated === true,
  };
}

function stageRequestFromWire(
  decoded: pb.kv.StageCheckpointRequest.$Properties | null | undefined,
  typeName: string,
  at: string,
): StageCheckpointRequest {
  const request = present(decoded, typeName, at);
  return {
    taskId: request.taskId ?? '',
    epoch: toSafeNumber(request.epoch, typeName, at, 'epoch'),
    seq: toSafeNumber(request.seq, typeName, at, 'seq'),
    chunk: request.chunk ?? 0,
    ops: opsFromWire(request.ops, typeName, fieldPath(at, 'ops')),
  };
}

function stageResponseFromWire(
  decoded: pb.kv.StageCheckpointResponse.$Properties | null | undefined,
  typeName: string,
  at: string,
): StageCheckpointResponse {
  const response = present(decoded, typeName, at);
  return {
    header: responseHeaderFromWire(response.header, typeName, at),
    chunk: response.chunk ?? 0,
  };
}

function taskRequestFromWire(
  decoded: pb.kv.TaskRequest.$Properties,
  typeName: string,
  at: string,
): TaskRequest {
  const path = fieldPath(at, 'task');
  const which = (decoded as { op?: string }).op;
  switch (which) {
    case 'acquire':
      return {
        type: which,
        acquire: acquireTaskRequestFromWire(decoded.acquire, typeName, fieldPath(path, which)),
      };
    case 'commit':
      return {
        type: which,
        commit: commitRequestFromWire(decoded.commit, typeName, fieldPath(path, which)),
      };
    case 'stage':
      return {
        type: which,
        stage: stageRequestFromWire(decoded.stage, typeName, fieldPath(path, which)),
      };
    default:
      throw new MalformedError(typeName, path, 'no task operation set');
  }
}

function taskResponseFromWire(
  decoded: pb.kv.TaskResponse.$Properties,
  typeName: string,
  at: string,
): TaskResponse {
  const path = fieldPath(at, 'task');
  const which = (decoded as { result?: string }).result;
  switch (which) {
    case 'acquire':
      return {
        type: which,
        acquire: acquireTaskResponseFromWire(decoded.acquire, typeName, fieldPath(path, which)),
      };
    case 'commit':
      return {
        type: which,
        commit: commitResponseFromWire(decoded.commit, typeName, fieldPath(path, which)),
      };
    case 'stage':
      return {
        type: which,
        stage: stageResponseFromWire(decoded.stage, typeName, fieldPath(path, which)),
      };
    default:
      throw new MalformedError(typeName, path, 'no task result set');
  }
}

/** AnyRequestWire is the oneof of request kinds, as several wire messages spell it. */
interface AnyRequestWire {
  range?: pb.kv.RangeRequest.$Properties | null;
  put?: pb.kv.PutRequest.$Properties | null;
  delete?: pb.kv.DeleteRequest.$Properties | null;
  txn?: pb.kv.TxnRequest.$Properties | null;
}

/** anyRequestFromWire decodes the request oneof whose set case is `which`. */
function anyRequestFromWire(
  decoded: AnyRequestWire,
  which: string | undefined,
  typeName: string,
  at: string,
): AnyRequest {
  switch (which) {
    case 'range':
      return {
        type: which,
        range: rangeRequestFromWire(decoded.range, typeName, fieldPath(at, which)),
      };
    case 'put':
      return { type: which, put: putRequestFromWire(decoded.put, typeName, fieldPath(at, which)) };
    case 'delete': {
      const request = deleteRequestFromWire(decoded.delete, typeName, fieldPath(at, which));
      return { type: which, delete: request };
    }
    case 'txn':
      return { type: which, txn: txnRequestFromWire(decoded.txn, typeName, fieldPath(at, which)) };
    default:
      throw new MalformedError(typeName, fieldPath(at, 'request'), 'no request set');
  }
}

/** AnyResponseWire is the oneof of response kinds, as several wire messages spell it. */
interface AnyResponseWire {
  range?: pb.kv.RangeResponse.$Properties | null;
  put?: pb.kv.PutResponse.$Properties | null;
  delete?: pb.kv.DeleteResponse.$Properties | null;
  txn?: pb.kv.TxnResponse.$Properties | null;
  error?: pb.kv.ErrorStatus.$Properties | null;
}

/** anyResponseFromWire decodes the response oneof whose set case is `which`. */
function anyResponseFromWire(
  decoded: AnyResponseWire,
  which: string | undefined,
  typeName: string,
  at: string,
): AnyResponse {
  const path = fieldPath(at, which ?? 'response');
  switch (which) {
    case 'range':
      return { type: which, range: rangeResponseFromWire(decoded.range, typeName, path) };
    case 'put':
      return { type: which, put: putResponseFromWire(decoded.put, typeName, path) };
    case 'delete':
      return { type: which, delete: deleteResponseFromWire(decoded.delete, typeName, path) };
    case 'txn':
      return { type: which, txn: txnResponseFromWire(decoded.txn, typeName, path) };
    case 'error': {
      const status = present(decoded.error, typeName, path);
      return { type: which, error: errorStatusFromWire(status, typeName, path) };
    }
    default:
      throw new MalformedError(typeName, path, 'no response set');
  }
}

// ---- Encoding helpers ----

/** opBody returns the request of a tagged command op (the value of its oneof field). */
function opBody(op: Command['op']): object {
  switch (op.type) {
    case 'put':
      return op.put;
    case 'delete':
      return op.delete;
    case 'txn':
      return op.txn;
    case 'acquireTask':
      return op.acquireTask;
    case 'commitCheckpoint':
      return op.commitCheckpoint;
    case 'stageCheckpoint':
      return op.stageCheckpoint;
    default:
      return op satisfies never;
  }
}

/** anyBody returns the message inside a tagged request or response. */
function anyBody(tagged: AnyRequest | AnyResponse): object {
  return (tagged as unknown as Record<string, object>)[tagged.type];
}

/** checkUint64 asserts a number can be encoded as uint64 and decoded back exactly. */
function checkUint64(value: number, path: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new AssertionFailure(`encode: ${path} = ${value} is not an integer in [0, 2^53 - 1]`);
  }
}
