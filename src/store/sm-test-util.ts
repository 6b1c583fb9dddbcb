/**
 * Helpers shared by the state machine's tests (not used by production code): temporary
 * directories, request builders, and a normal form of results that deep-equals across Buffer and
 * Uint8Array (byte fields become hex strings; KvErrors become their code and limit).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EMPTY_BYTES, EntryType, type GroupId } from '../raft/types.js';
import { encodeCommand } from './kv-codec.js';
import { KvError } from './kv-errors.js';
import {
  ReadConsistency,
  type Command,
  type CommandOp,
  type DeleteRequest,
  type PutRequest,
  type RangeRequest,
} from './kv-types.js';
import type { ApplyEntry, KvStateMachine } from './sm-state-machine.js';

/** TempDirs creates temporary directories and removes them all at the end. */
export class TempDirs {
  private readonly dirs: string[] = [];

  /** make creates a fresh directory under os.tmpdir(). */
  async make(prefix = 'strata-sm-'): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }

  /** removeAll deletes every directory made. */
  async removeAll(): Promise<void> {
    await Promise.all(this.dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  }
}

const encoder = new TextEncoder();

/** bytes encodes a string as UTF-8. */
export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/** group brands a number as a GroupId. */
export function group(id: number): GroupId {
  return id as GroupId;
}

/** putRequest builds a PutRequest. */
export function putRequest(key: Uint8Array, value: Uint8Array, prevKv = false): PutRequest {
  return { key, value, prevKv, header: null };
}

/** deleteRequest builds a DeleteRequest for one key (or a selection). */
export function deleteRequest(
  key: Uint8Array,
  options: { rangeEnd?: Uint8Array; prefix?: boolean; prevKv?: boolean } = {},
): DeleteRequest {
  return {
    key,
    rangeEnd: options.rangeEnd ?? EMPTY_BYTES,
    prefix: options.prefix ?? false,
    prevKv: options.prevKv ?? false,
    header: null,
  };
}

/** rangeRequest builds a RangeRequest with defaults (single key unless told otherwise). */
export function rangeRequest(key: Uint8Array, options: Partial<RangeRequest> = {}): RangeRequest {
  return {
    key,
    rangeEnd: EMPTY_BYTES,
    prefix: false,
    limit: 0,
    pageToken: EMPTY_BYTES,
    consistency: ReadConsistency.Serializable,
    minIndex: 0,
    keysOnly: false,
    countOnly: false,
    header: null,
    ...options,
  };
}

/** commandEntry encodes a command as a NORMAL entry at `index`. */
export function commandEntry(index: number, op: CommandOp, clientId = 0, seq = 0): ApplyEntry {
  const command: Command = { clientId, seq, op };
  return { index, type: EntryType.Normal, data: encodeCommand(command) };
}

/** putEntry is a NORMAL entry putting `key` = `value` without a session. */
export function putEntry(index: number, key: string, value: string): ApplyEntry {
  return commandEntry(index, { type: 'put', put: putRequest(bytes(key), bytes(value)) });
}

/** noopEntry is a leader's empty entry at `index`. */
export function noopEntry(index: number): ApplyEntry {
  return { index, type: EntryType.Normal, data: EMPTY_BYTES };
}

/** readAll reads every key of a group by paging through a prefix range of `pageKeys` keys. */
export async function readAll(
  machine: KvStateMachine,
  groupId: GroupId,
  pageKeys = 1000,
): Promise<unknown[]> {
  const all: unknown[] = [];
  let pageToken: Uint8Array = EMPTY_BYTES;
  for (;;) {
    const request = rangeRequest(EMPTY_BYTES, { prefix: true, limit: pageKeys, pageToken });
    const page = await machine.range(groupId, request);
    all.push(...page.kvs.map(normalize));
    if (!page.more) return all;
    pageToken = page.nextPageToken;
  }
}

/** normalize turns bytes into hex strings and KvErrors into {code, limit}, recursively. */
export function normalize(value: unknown): unknown {
  if (value instanceof Uint8Array) return `0x${Buffer.from(value).toString('hex')}`;
  if (value instanceof KvError) return { code: value.code, limit: value.limit };
  if (Array.isArray(value)) return value.map(normalize);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(value)) out[key] = normalize(field);
    return out;
  }
  return value;
}
