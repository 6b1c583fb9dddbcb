/**
 * The client's public request shapes and their translation into the wire types of
 * src/store/kv-types.ts, checked against the store's limits (kv-limits.ts) before anything is
 * sent: a request the server would refuse fails here, at once, with the limit named.
 */
import { EMPTY_BYTES } from '../raft/index.js';
import { KvError, LimitError } from '../store/kv-errors.js';
import {
  checkDeleteRequest,
  checkPutRequest,
  checkRangeRequest,
  checkTxnRequest,
} from '../store/kv-limits.js';
import {
  CompareResult,
  CompareTarget,
  ReadConsistency,
  type Compare,
  type DeleteRequest,
  type KeySelection,
  type PutRequest,
  type RangeRequest,
  type RequestOp,
  type TxnRequest,
} from '../store/kv-types.js';
import { InvalidArgumentError, ResourceExhaustedError, StrataError } from './errors.js';
import { ZERO_KEY, printable, tagScope, toBytes, type Key } from './keys.js';

/** Consistency says how fresh a read must be: see ReadConsistency in kv.proto. */
export type Consistency = 'linearizable' | 'serializable' | { atIndex: number };

/** SelectionOptions pick keys: `prefix`, or `start` (inclusive) / `end` (exclusive). */
export interface SelectionOptions {
  prefix?: Key;
  start?: Key;
  end?: Key;
}

/** CompareOperator is how a txn compare relates the key's state to the operand. */
export type CompareOperator = 'equal' | 'notEqual' | 'greater' | 'less';

/** TxnCompare is one condition of a txn on a key's current state. */
export type TxnCompare = { key: Key; result?: CompareOperator } & (
  { value: Key } | { modIndex: number } | { version: number } | { exists: boolean }
);

/** TxnOp is one operation of a txn branch. */
export type TxnOp =
  | { put: { key: Key; value: Key; prevKv?: boolean } }
  | { delete: { key: Key; prevKv?: boolean } }
  | { get: { key: Key } }
  | { range: SelectionOptions & { limit?: number } };

const RESULTS: Record<CompareOperator, CompareResult> = {
  equal: CompareResult.Equal,
  notEqual: CompareResult.NotEqual,
  greater: CompareResult.Greater,
  less: CompareResult.Less,
};

/** consistencyOf maps the public consistency to the wire enum and min index. */
export function consistencyOf(consistency: Consistency | undefined): {
  consistency: ReadConsistency;
  minIndex: number;
} {
  if (consistency === undefined || consistency === 'linearizable') {
    return { consistency: ReadConsistency.Linearizable, minIndex: 0 };
  }
  if (consistency === 'serializable')
    return { consistency: ReadConsistency.Serializable, minIndex: 0 };
  if (typeof consistency === 'object' && consistency !== null) {
    const index = consistency.atIndex;
    if (!Number.isSafeInteger(index) || index < 0) {
      throw new InvalidArgumentError(`consistency.atIndex must be an index >= 0, got ${index}`);
    }
    return { consistency: ReadConsistency.AtIndex, minIndex: index };
  }
  throw new InvalidArgumentError(`unknown consistency ${JSON.stringify(consistency)}`);
}

/** selectionOf turns SelectionOptions into a KeySelection (no options: every key). */
export function selectionOf(options: SelectionOptions): KeySelection {
  if (options.prefix !== undefined) {
    if (options.start !== undefined || options.end !== undefined) {
      throw new InvalidArgumentError('a range takes either prefix or start/end, not both');
    }
    return { key: toBytes(options.prefix), rangeEnd: EMPTY_BYTES, prefix: true };
  }
  if (options.start === undefined && options.end === undefined) {
    return { key: EMPTY_BYTES, rangeEnd: EMPTY_BYTES, prefix: true };
  }
  const key = options.start === undefined ? EMPTY_BYTES : toBytes(options.start);
  const rangeEnd = options.end === undefined ? ZERO_KEY : toBytes(options.end);
  if (rangeEnd.length === 0) throw new InvalidArgumentError('range end must not be empty');
  return { key, rangeEnd, prefix: false };
}

/** rangeRequest builds a checked range request (the header is set per attempt). */
export function rangeRequest(
  selection: KeySelection,
  fields: { limit?: number; consistency?: Consistency; keysOnly?: boolean },
): RangeRequest {
  const limit = fields.limit ?? 0;
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new InvalidArgumentError(`limit must be an integer >= 0, got ${limit}`);
  }
  const { consistency, minIndex } = consistencyOf(fields.consistency);
  const request: RangeRequest = {
    key: selection.key,
    rangeEnd: selection.rangeEnd,
    prefix: selection.prefix,
    limit,
    pageToken: EMPTY_BYTES,
    consistency,
    minIndex,
    keysOnly: fields.keysOnly === true,
    countOnly: false,
    header: null,
  };
  checked(() => checkRangeRequest(request));
  return request;
}

/** putRequest builds a checked put. */
export function putRequest(key: Key, value: Key, prevKv = false): PutRequest {
  const request = { key: toBytes(key), value: toBytes(value), prevKv, header: null };
  checked(() => checkPutRequest(request));
  return request;
}

/** deleteRequest builds a checked delete of one key. */
export function deleteRequest(key: Key, prevKv = false): DeleteRequest {
  const bytes = toBytes(key);
  const request = { key: bytes, rangeEnd: EMPTY_BYTES, prefix: false, prevKv, header: null };
  if (bytes.length === 0) throw new InvalidArgumentError('delete: key is empty');
  checked(() => checkDeleteRequest(request));
  return request;
}

/** compareOf translates one public compare. */
function compareOf(compare: TxnCompare): Compare {
  const key = toBytes(compare.key);
  const result = RESULTS[compare.result ?? 'equal'];
  if (result === undefined) throw new InvalidArgumentError(`unknown compare ${compare.result}`);
  if ('value' in compare)
    return { key, result, target: CompareTarget.Value, value: toBytes(compare.value) };
  if ('modIndex' in compare) {
    return { key, result, target: CompareTarget.ModIndex, modIndex: count(compare.modIndex) };
  }
  if ('version' in compare) {
    return { key, result, target: CompareTarget.Version, version: count(compare.version) };
  }
  if ('exists' in compare) {
    return { key, result, target: CompareTarget.Exists, exists: compare.exists === true };
  }
  throw new InvalidArgumentError('a compare needs one of value, modIndex, version, exists');
}

function count(value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(`compare operand must be an integer >= 0, got ${value}`);
  }
  return value;
}

/** requestOpOf translates one public txn op. */
function requestOpOf(op: TxnOp): RequestOp {
  if ('put' in op) return { type: 'put', put: putRequest(op.put.key, op.put.value, op.put.prevKv) };
  if ('delete' in op) {
    return { type: 'delete', delete: deleteRequest(op.delete.key, op.delete.prevKv) };
  }
  if ('get' in op) {
    const selection = { key: toBytes(op.get.key), rangeEnd: EMPTY_BYTES, prefix: false };
    return { type: 'range', range: rangeRequest(selection, {}) };
  }
  if ('range' in op) {
    return { type: 'range', range: rangeRequest(selectionOf(op.range), { limit: op.range.limit }) };
  }
  throw new InvalidArgumentError('a txn op needs one of put, delete, get, range');
}

/** txnRequest builds a checked txn request. */
export function txnRequest(
  compare: readonly TxnCompare[],
  success: readonly TxnOp[],
  failure: readonly TxnOp[],
): TxnRequest {
  const request: TxnRequest = {
    compare: compare.map(compareOf),
    success: success.map(requestOpOf),
    failure: failure.map(requestOpOf),
    header: null,
  };
  checked(() => checkTxnRequest(request));
  return request;
}

/** checked runs a kv-limits check, turning its KvError into the client's typed error. */
export function checked(check: () => void): void {
  try {
    check();
  } catch (error) {
    throw clientErrorOf(error);
  }
}

/** clientErrorOf converts a store KvError (limits) into a client error; others pass through. */
export function clientErrorOf(error: unknown): unknown {
  if (error instanceof StrataError || !(error instanceof KvError)) return error;
  const limit = error.limit || undefined;
  if (error.code === 'RESOURCE_EXHAUSTED') {
    return new ResourceExhaustedError(error.message, { limit, cause: error });
  }
  const code = error instanceof LimitError ? 'INVALID_ARGUMENT' : error.code;
  return new InvalidArgumentError(error.message, { limit, cause: error, code });
}

/**
 * txnGroupOf returns the one group every key of a txn maps to, or throws InvalidArgumentError
 * naming two keys in different groups (a txn is one Raft entry of one group). A range op must
 * stay in one group too: an exact key, or a prefix or range fixed by a `{hash tag}`.
 */
export function txnGroupOf(request: TxnRequest, groupOf: (key: Uint8Array) => number): number {
  const scopes: Uint8Array[] = request.compare.map((compare) => compare.key);
  for (const op of [...request.success, ...request.failure]) {
    const selection = op.type === 'put' ? op.put : op.type === 'delete' ? op.delete : op.range;
    const scope = 'rangeEnd' in selection ? tagScope(selection) : selection.key;
    if (scope === null) {
      throw new InvalidArgumentError(
        `txn: the ${op.type} of ${printable(selection.key)} may span groups; ` +
          'a txn range or prefix must be fixed by a {hash tag}',
      );
    }
    scopes.push(scope);
  }
  if (scopes.length === 0)
    throw new InvalidArgumentError('txn: no keys (nothing to compare or do)');
  const group = groupOf(scopes[0]!);
  for (const scope of scopes) {
    const other = groupOf(scope);
    if (other !== group) {
      throw new InvalidArgumentError(
        `txn: keys span groups: ${printable(scopes[0]!)} is in group ${group}, ` +
          `${printable(scope)} in group ${other}; keep a txn's keys under one {hash tag}`,
      );
    }
  }
  return group;
}
