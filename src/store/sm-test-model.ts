/**
 * A deliberately simple in-memory reference model of the KV state machine's semantics, for the
 * property test in sm-state-machine.test.ts: Maps and sorted arrays, no overlays, no LevelDB,
 * no sessions. It answers valid commands (seq 0) and range reads the way the state machine
 * must; its results are in the normal form of sm-test-util.ts.
 */
import { EMPTY_BYTES, EntryType, type GroupId, type NodeId } from '../raft/types.js';
import { decodeCommand } from './kv-codec.js';
import { KvError } from './kv-errors.js';
import { RANGE_KEYS_MAX } from './kv-limits.js';
import {
  CompareResult,
  CompareTarget,
  type Command,
  type CommandResponse,
  type Compare,
  type DeleteRequest,
  type KeySelection,
  type KeyValue,
  type PutRequest,
  type RangeRequest,
  type RangeResponse,
  type RequestOp,
  type ResponseHeader,
  type ResponseOp,
  type TxnRequest,
} from './kv-types.js';
import type { ApplyEntry } from './sm-state-machine.js';
import { normalize } from './sm-test-util.js';

interface ModelRecord {
  key: Uint8Array;
  value: Uint8Array;
  modIndex: number;
  createIndex: number;
  version: number;
}

const hex = (key: Uint8Array): string => Buffer.from(key).toString('hex');

/** KvModel is the reference model: one Map of records per group. */
export class KvModel {
  private readonly groups = new Map<number, Map<string, ModelRecord>>();
  /** applied is each group's applied index. */
  readonly applied = new Map<number, number>();

  /** appliedIndex is a group's applied index (0 if none). */
  appliedIndex(group: number): number {
    return this.applied.get(group) ?? 0;
  }

  /** apply applies entries to a group and returns their normalized results. */
  apply(group: GroupId, entries: readonly ApplyEntry[]): unknown[] {
    const results: unknown[] = [];
    for (const entry of entries) {
      this.applied.set(group, entry.index);
      if (entry.type === EntryType.ConfChange || entry.data.length === 0) {
        results.push({ index: entry.index, type: 'noop' });
        continue;
      }
      let command: Command;
      try {
        command = decodeCommand(entry.data);
      } catch (error) {
        const code = (error as KvError).code;
        results.push({
          index: entry.index,
          type: 'error',
          clientId: 0,
          seq: 0,
          error: { code, limit: '' },
          deduplicated: false,
        });
        continue;
      }
      const response = this.execute(group, command, entry.index);
      const { clientId, seq } = command;
      results.push(
        normalize({
          index: entry.index,
          clientId,
          seq,
          deduplicated: false,
          type: 'response',
          response,
        }),
      );
    }
    return results;
  }

  /** all returns a group's records in key order, as KeyValues (normalized). */
  all(group: number): unknown[] {
    return this.sorted(group).map((record) => normalize(keyValue(record, false)));
  }

  /** range answers a client range read at the group's applied index. */
  range(group: GroupId, request: RangeRequest): unknown {
    return normalize(this.rangeAt(group, request, header(group, this.appliedIndex(group))));
  }

  private data(group: number): Map<string, ModelRecord> {
    let data = this.groups.get(group);
    if (data === undefined) {
      data = new Map();
      this.groups.set(group, data);
    }
    return data;
  }

  private sorted(group: number): ModelRecord[] {
    return [...this.data(group).values()].sort((a, b) => Buffer.compare(a.key, b.key));
  }

  private execute(group: GroupId, command: Command, index: number): CommandResponse {
    const h = header(group, index);
    switch (command.op.type) {
      case 'put':
        return { type: 'put', put: this.put(group, command.op.put, index, h) };
      case 'delete':
        return { type: 'delete', delete: this.delete(group, command.op.delete, h) };
      case 'txn':
        return { type: 'txn', txn: this.txn(group, command.op.txn, index, h) };
      default:
        // Task operations have their own model (sm-tasks.test.ts).
        throw new Error(`the model does not run ${command.op.type}`);
    }
  }

  private put(group: number, request: PutRequest, index: number, h: ResponseHeader) {
    const data = this.data(group);
    const previous = data.get(hex(request.key));
    data.set(hex(request.key), {
      key: request.key,
      value: request.value,
      modIndex: index,
      createIndex: previous?.createIndex ?? index,
      version: (previous?.version ?? 0) + 1,
    });
    const prevKv = request.prevKv && previous ? keyValue(previous, false) : null;
    return { header: h, prevKv };
  }

  private delete(group: number, request: DeleteRequest, h: ResponseHeader) {
    const doomed = this.select(group, request);
    for (const record of doomed) this.data(group).delete(hex(record.key));
    const prevKvs = request.prevKv ? doomed.map((record) => keyValue(record, false)) : [];
    return { header: h, deleted: doomed.length, prevKvs };
  }

  private txn(group: GroupId, request: TxnRequest, index: number, h: ResponseHeader) {
    const data = this.data(group);
    const succeeded = request.compare.every((c) => holds(c, data.get(hex(c.key))));
    const responses: ResponseOp[] = (succeeded ? request.success : request.failure).map(
      (op: RequestOp): ResponseOp => {
        switch (op.type) {
          case 'range':
            return { type: 'range', range: this.rangeAt(group, op.range, h) };
          case 'put':
            return { type: 'put', put: this.put(group, op.put, index, h) };
          case 'delete':
            return { type: 'delete', delete: this.delete(group, op.delete, h) };
        }
      },
    );
    return { header: h, succeeded, responses };
  }

  /** select returns the records a selection picks, in key order. */
  private select(group: number, selection: KeySelection): ModelRecord[] {
    const { key, rangeEnd, prefix } = selection;
    return this.sorted(group).filter((record) => {
      const k = record.key;
      if (prefix) return Buffer.from(k).subarray(0, key.length).equals(key);
      if (rangeEnd.length === 0) return Buffer.compare(k, key) === 0;
      if (rangeEnd.length === 1 && rangeEnd[0] === 0) return Buffer.compare(k, key) >= 0;
      return Buffer.compare(k, key) >= 0 && Buffer.compare(k, rangeEnd) < 0;
    });
  }

  private rangeAt(group: number, request: RangeRequest, h: ResponseHeader): RangeResponse {
    const single = !request.prefix && request.rangeEnd.length === 0;
    let records = this.select(group, request);
    if (!single && request.pageToken.length > 0) {
      const from = request.pageToken.subarray(1);
      records = records.filter((record) => Buffer.compare(record.key, from) >= 0);
    }
    const response: RangeResponse = {
      header: h,
      kvs: [],
      more: false,
      count: 0,
      nextPageToken: EMPTY_BYTES,
    };
    if (request.countOnly) return { ...response, count: records.length };
    const keysMax = request.limit === 0 ? RANGE_KEYS_MAX : Math.min(request.limit, RANGE_KEYS_MAX);
    const page = records.slice(0, keysMax);
    response.kvs = page.map((record) => keyValue(record, request.keysOnly));
    response.count = page.length;
    if (records.length > keysMax) {
      response.more = true;
      // White box: the token format (opaque to clients) is [1][next key].
      response.nextPageToken = Uint8Array.of(1, ...records[keysMax].key);
    }
    return response;
  }
}

function header(group: number, appliedIndex: number): ResponseHeader {
  return { groupId: group as GroupId, appliedIndex, leaderId: 0 as NodeId, epoch: 0 };
}

function keyValue(record: ModelRecord, keysOnly: boolean): KeyValue {
  const { key, modIndex, createIndex, version } = record;
  return { key, value: keysOnly ? EMPTY_BYTES : record.value, modIndex, createIndex, version };
}

function holds(compare: Compare, record: ModelRecord | undefined): boolean {
  let actual: number;
  let operand: number;
  switch (compare.target) {
    case CompareTarget.Value:
      if (record === undefined) return false;
      actual = Buffer.compare(record.value, compare.value);
      operand = 0;
      break;
    case CompareTarget.ModIndex:
      [actual, operand] = [record?.modIndex ?? 0, compare.modIndex];
      break;
    case CompareTarget.Version:
      [actual, operand] = [record?.version ?? 0, compare.version];
      break;
    case CompareTarget.Exists:
      [actual, operand] = [record === undefined ? 0 : 1, compare.exists ? 1 : 0];
      break;
  }
  switch (compare.result) {
    case CompareResult.Equal:
      return actual === operand;
    case CompareResult.NotEqual:
      return actual !== operand;
    case CompareResult.Greater:
      return actual > operand;
    case CompareResult.Less:
      return actual < operand;
  }
}
