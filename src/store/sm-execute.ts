/**
 * Execution of KV operations against one group's data (a GroupView): ranges for client reads,
 * and put / delete / txn commands for the entries being applied. Write commands run in their own
 * child Overlay (see sm-view.ts) and throw KvError for an expected failure; the caller then drops
 * the child, so a failed command has no effect. Everything here is deterministic: its result
 * depends only on the group's state and the command, never on time or on batch boundaries.
 */
import { assert } from '../raft/errors.js';
import type { GroupId, Index, NodeId } from '../raft/types.js';
import { EMPTY_BYTES } from '../raft/types.js';
import { KvError, LimitError } from './kv-errors.js';
import { LIMITS, RANGE_BYTES_MAX, RANGE_KEYS_MAX, checkCommand, checkBytes } from './kv-limits.js';
import {
  CompareResult,
  CompareTarget,
  type Command,
  type CommandResponse,
  type Compare,
  type DeleteRequest,
  type DeleteResponse,
  type KeySelection,
  type KeyValue,
  type PutRequest,
  type PutResponse,
  type RangeRequest,
  type RangeResponse,
  type RequestOp,
  type ResponseHeader,
  type ResponseOp,
  type TxnRequest,
  type TxnResponse,
} from './kv-types.js';
import { copyBytes, type StoredValue } from './sm-records.js';
import {
  executeAcquireTask,
  executeCommitCheckpoint,
  executeStageCheckpoint,
  type TaskContext,
} from './sm-tasks.js';
import { GroupView, compareBytes, mapKey, type Overlay } from './sm-view.js';

/** KV_OVERHEAD_BYTES is what a write's answer budget charges per KeyValue beyond its bytes. */
const KV_OVERHEAD_BYTES = 32;

/** PAGE_TOKEN_FORMAT is the first byte of a page token; the rest is the next key to read. */
const PAGE_TOKEN_FORMAT = 1;

/** responseHeader is the header of an answer about `group` as of `appliedIndex`. */
export function responseHeader(group: GroupId, appliedIndex: Index): ResponseHeader {
  return { groupId: group, appliedIndex, leaderId: 0 as NodeId, epoch: 0 };
}

/** keyValue builds the KeyValue of a stored record (value left out if keysOnly). */
function keyValue(key: Uint8Array, stored: StoredValue, keysOnly: boolean): KeyValue {
  return {
    key,
    value: keysOnly ? EMPTY_BYTES : stored.value,
    modIndex: stored.modIndex,
    createIndex: stored.createIndex,
    version: stored.version,
  };
}

/** Bounds are the user keys a selection covers: [start, end), end null for no bound. */
interface Bounds {
  start: Uint8Array;
  end: Uint8Array | null;
}

/** selectionBounds returns a multi-key selection's bounds, or null for a single key. */
function selectionBounds(selection: KeySelection): Bounds | null {
  if (selection.prefix) return { start: selection.key, end: prefixEnd(selection.key) };
  const rangeEnd = selection.rangeEnd;
  if (rangeEnd.length === 0) return null;
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { start: selection.key, end: null };
  return { start: selection.key, end: rangeEnd };
}

/** prefixEnd returns the first key after every key starting with `prefix` (null: none). */
export function prefixEnd(prefix: Uint8Array): Uint8Array | null {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i] < 0xff) {
      const end = copyBytes(prefix, 0, i + 1);
      end[i]++;
      return end;
    }
  }
  return null;
}

/** isEmptyRange says whether bounds contain no key at all. */
function isEmptyRange(bounds: Bounds): boolean {
  return bounds.end !== null && compareBytes(bounds.start, bounds.end) >= 0;
}

/** encodePageToken returns the opaque token that resumes a range at `nextKey`. */
function encodePageToken(nextKey: Uint8Array): Uint8Array {
  const token = new Uint8Array(1 + nextKey.length);
  token[0] = PAGE_TOKEN_FORMAT;
  token.set(nextKey, 1);
  return token;
}

/** pageStart returns where a page starts: the token's key, checked to lie within the bounds. */
function pageStart(bounds: Bounds, pageToken: Uint8Array): Uint8Array {
  if (pageToken.length === 0) return bounds.start;
  const key = pageToken.subarray(1);
  const inside =
    compareBytes(key, bounds.start) >= 0 &&
    (bounds.end === null || compareBytes(key, bounds.end) < 0);
  if (pageToken[0] !== PAGE_TOKEN_FORMAT || key.length === 0 || !inside) {
    throw new KvError('INVALID_ARGUMENT', 'pageToken does not belong to this range');
  }
  return key;
}

/**
 * executeRange reads one page of a range. A page holds at most min(limit, rangeKeysMax) keys
 * and at most `bytesMax` key and value bytes, counting `kvOverheadBytes` more per key (it ends
 * early, with `more`, rather than fail).
 * The caller has checked the request against the limits.
 */
export async function executeRange(
  view: GroupView,
  request: RangeRequest,
  header: ResponseHeader,
  bytesMax: number = RANGE_BYTES_MAX,
  kvOverheadBytes = 0,
): Promise<RangeResponse> {
  const response: RangeResponse = {
    header,
    kvs: [],
    more: false,
    count: 0,
    nextPageToken: EMPTY_BYTES,
  };
  const bounds = selectionBounds(request);
  if (bounds === null) {
    const stored = await view.get(request.key);
    if (stored === null) return response;
    response.count = 1;
    if (request.countOnly) return response;
    if (rangeBytes(request.key, stored, request.keysOnly) + kvOverheadBytes > bytesMax) {
      response.more = true;
      response.nextPageToken = encodePageToken(request.key);
      return response;
    }
    response.kvs.push(keyValue(request.key, stored, request.keysOnly));
    return response;
  }
  if (isEmptyRange(bounds)) return response;
  const start = pageStart(bounds, request.pageToken);
  if (request.countOnly) {
    for await (const _item of view.scan(start, bounds.end, false)) response.count++;
    return response;
  }
  const keysMax = request.limit === 0 ? RANGE_KEYS_MAX : Math.min(request.limit, RANGE_KEYS_MAX);
  let bytes = 0;
  for await (const { key, stored } of view.scan(start, bounds.end, true)) {
    assert(stored !== null, 'scan with values yielded no record');
    const size = rangeBytes(key, stored, request.keysOnly) + kvOverheadBytes;
    if (response.kvs.length >= keysMax || bytes + size > bytesMax) {
      response.more = true;
      response.nextPageToken = encodePageToken(key);
      break;
    }
    bytes += size;
    response.kvs.push(keyValue(key, stored, request.keysOnly));
  }
  response.count = response.kvs.length;
  return response;
}

/** rangeBytes is what one key costs a page: its key and (unless keysOnly) value bytes. */
function rangeBytes(key: Uint8Array, stored: StoredValue, keysOnly: boolean): number {
  return key.length + (keysOnly ? 0 : stored.value.length);
}

/** answerBytes is what one KeyValue costs a write's answer budget. */
function answerBytes(key: Uint8Array, value: Uint8Array): number {
  return key.length + value.length + KV_OVERHEAD_BYTES;
}

/**
 * CommandContext is what a write command runs with: the view (over the command's own child
 * overlay), the index of its entry, and the answer's byte budget (LIMITS.responseBytesMax).
 */
interface CommandContext {
  view: GroupView & { overlay: Overlay };
  index: Index;
  header: ResponseHeader;
  budgetBytes: number;
}

/**
 * executeCommand checks a decoded command against the limits and runs its operation at log
 * index `index`, writing into `overlay` (a child overlay the caller merges only on success).
 * Throws KvError (LimitError for a limit) for an expected failure.
 */
export async function executeCommand(
  view: GroupView & { overlay: Overlay },
  command: Command,
  index: Index,
): Promise<CommandResponse> {
  checkCommand(command);
  const op = command.op;
  const context: CommandContext = {
    view,
    index,
    header: responseHeader(view.group, index),
    budgetBytes: LIMITS.responseBytesMax,
  };
  switch (op.type) {
    case 'put':
      return { type: 'put', put: await executePut(context, op.put) };
    case 'delete':
      return { type: 'delete', delete: await executeDelete(context, op.delete) };
    case 'txn':
      return { type: 'txn', txn: await executeTxn(context, op.txn) };
    case 'acquireTask': {
      const response = await executeAcquireTask(taskContext(context), op.acquireTask);
      return { type: 'acquireTask', acquireTask: response };
    }
    case 'commitCheckpoint': {
      const response = await executeCommitCheckpoint(taskContext(context), op.commitCheckpoint);
      return { type: 'commitCheckpoint', commitCheckpoint: response };
    }
    case 'stageCheckpoint': {
      const response = await executeStageCheckpoint(taskContext(context), op.stageCheckpoint);
      return { type: 'stageCheckpoint', stageCheckpoint: response };
    }
    default:
      return op satisfies never;
  }
}

/** taskContext gives a task operation the command's view and a way to run write ops. */
function taskContext(context: CommandContext): TaskContext {
  return {
    view: context.view,
    index: context.index,
    header: context.header,
    writeOp: async (op) => {
      await executeRequestOp(context, op);
    },
    writeOps: async (ops) => {
      for (const op of ops) {
        if (op.type === 'put' && putNowInView(context, op.put)) continue;
        await executeRequestOp(context, op);
      }
    },
  };
}

/**
 * putNowInView runs a put at once when its key's record is at hand in the command's view (a
 * checkpoint prefetches all its keys): true if it ran, false if the record must be read first.
 * A checkpoint of thousands of puts then costs no promise per put.
 */
function putNowInView(context: CommandContext, request: PutRequest): boolean {
  const name = mapKey(request.key);
  const previous = context.view.peek(request.key, name);
  if (previous === undefined) return false;
  const { view, index, header } = context;
  putOver(view.overlay, index, header, request, previous, context, name);
  return true;
}

/** charge takes `bytes` from the answer's budget, or throws RESOURCE_EXHAUSTED. */
function charge(context: { budgetBytes: number }, bytes: number, what: string): void {
  const used = LIMITS.responseBytesMax - context.budgetBytes + bytes;
  if (bytes > context.budgetBytes) {
    throw new LimitError(
      'RESOURCE_EXHAUSTED',
      'responseBytesMax',
      what,
      used,
      LIMITS.responseBytesMax,
    );
  }
  context.budgetBytes -= bytes;
}

async function executePut(context: CommandContext, request: PutRequest): Promise<PutResponse> {
  const name = mapKey(request.key);
  const previous = await context.view.get(request.key, name);
  const { overlay } = context.view;
  return putOver(overlay, context.index, context.header, request, previous, context, name);
}

/**
 * executePutNow runs a put command at once when its key's record is at hand, in `overlay` or in
 * `prefetched` (an apply cycle prefetches the key of every put): the same checks, effects and
 * answer as executeCommand, without its chain of promises and its child overlay (a put fails
 * only before it writes). Returns undefined for any other command, or when the record is not at
 * hand. Throws KvError as executeCommand does.
 */
export function executePutNow(
  overlay: Overlay,
  prefetched: ReadonlyMap<string, StoredValue | null>,
  group: GroupId,
  command: Command,
  index: Index,
): CommandResponse | undefined {
  const op = command.op;
  if (op.type !== 'put') return undefined;
  const request = op.put;
  const name = mapKey(request.key);
  let previous = overlay.lookupName(name);
  if (previous === undefined) previous = prefetched.get(name);
  if (previous === undefined) return undefined;
  checkCommand(command);
  const budget = { budgetBytes: LIMITS.responseBytesMax };
  const header = responseHeader(group, index);
  const response = putOver(overlay, index, header, request, previous, budget, name);
  return { type: 'put', put: response };
}

/** putOver writes a put into `overlay` over the key's `previous` record, and answers it. */
function putOver(
  overlay: Overlay,
  index: Index,
  header: ResponseHeader,
  request: PutRequest,
  previous: StoredValue | null,
  budget: { budgetBytes: number },
  name: string,
): PutResponse {
  const response: PutResponse = { header, prevKv: null };
  if (previous !== null && request.prevKv) {
    charge(budget, answerBytes(request.key, previous.value), 'the answer (prevKv) size');
    response.prevKv = keyValue(request.key, previous, false);
  }
  assert(previous === null || previous.modIndex <= index, () => `put at ${index} is older`);
  overlay.set(
    request.key,
    {
      value: request.value,
      modIndex: index,
      createIndex: previous?.createIndex ?? index,
      version: (previous?.version ?? 0) + 1,
    },
    name,
  );
  return response;
}

async function executeDelete(
  context: CommandContext,
  request: DeleteRequest,
): Promise<DeleteResponse> {
  const { view } = context;
  const response: DeleteResponse = { header: context.header, deleted: 0, prevKvs: [] };
  const bounds = selectionBounds(request);
  const doomed: { key: Uint8Array; stored: StoredValue }[] = [];
  if (bounds === null) {
    const stored = await view.get(request.key);
    if (stored !== null) doomed.push({ key: request.key, stored });
  } else if (!isEmptyRange(bounds)) {
    for await (const { key, stored } of view.scan(bounds.start, bounds.end, request.prevKv)) {
      if (doomed.length === LIMITS.deleteRangeKeysMax) {
        const max = LIMITS.deleteRangeKeysMax;
        const what = 'the number of keys to delete';
        throw new LimitError('RESOURCE_EXHAUSTED', 'deleteRangeKeysMax', what, max + 1, max);
      }
      doomed.push({ key, stored: stored as StoredValue });
    }
  }
  for (const { key, stored } of doomed) {
    if (request.prevKv) {
      charge(context, answerBytes(key, stored.value), 'the answer (prevKvs) size');
      response.prevKvs.push(keyValue(key, stored, false));
    }
    view.overlay.set(key, null);
  }
  response.deleted = doomed.length;
  return response;
}

async function executeTxn(context: CommandContext, request: TxnRequest): Promise<TxnResponse> {
  let succeeded = true;
  for (const compare of request.compare) {
    if (!holds(compare, await context.view.get(compare.key))) {
      succeeded = false;
      break;
    }
  }
  const ops = succeeded ? request.success : request.failure;
  const responses: ResponseOp[] = [];
  for (const op of ops) responses.push(await executeRequestOp(context, op));
  return { header: context.header, succeeded, responses };
}

async function executeRequestOp(context: CommandContext, op: RequestOp): Promise<ResponseOp> {
  switch (op.type) {
    case 'range': {
      const bytesMax = Math.min(RANGE_BYTES_MAX, context.budgetBytes);
      const { view, header } = context;
      const range = await executeRange(view, op.range, header, bytesMax, KV_OVERHEAD_BYTES);
      let bytes = 0;
      for (const kv of range.kvs) bytes += answerBytes(kv.key, kv.value);
      charge(context, bytes, 'the answer (range) size');
      return { type: 'range', range };
    }
    case 'put':
      return { type: 'put', put: await executePut(context, op.put) };
    case 'delete':
      return { type: 'delete', delete: await executeDelete(context, op.delete) };
    default:
      return op satisfies never;
  }
}

/** holds evaluates one compare against a key's record (null: absent). */
export function holds(compare: Compare, stored: StoredValue | null): boolean {
  let order: number;
  switch (compare.target) {
    case CompareTarget.Value:
      if (stored === null) return false;
      order = compareBytes(stored.value, compare.value);
      break;
    case CompareTarget.ModIndex:
      order = Math.sign((stored?.modIndex ?? 0) - compare.modIndex);
      break;
    case CompareTarget.Version:
      order = Math.sign((stored?.version ?? 0) - compare.version);
      break;
    case CompareTarget.Exists:
      order = (stored !== null) === compare.exists ? 0 : 1;
      break;
    default:
      return compare satisfies never;
  }
  switch (compare.result) {
    case CompareResult.Equal:
      return order === 0;
    case CompareResult.NotEqual:
      return order !== 0;
    case CompareResult.Greater:
      return order > 0;
    case CompareResult.Less:
      return order < 0;
    default:
      return compare.result satisfies never;
  }
}

/** checkReadKey checks a single key read against the limits. */
export function checkReadKey(key: Uint8Array): void {
  if (key.length === 0) throw new KvError('INVALID_ARGUMENT', 'key is empty');
  checkBytes(key, 'keyBytesMax', 'key length');
}
