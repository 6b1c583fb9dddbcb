/**
 * Binary layout of the Raft log records a store node keeps in its LevelDB (see log-storage.ts).
 *
 * Keys are big-endian so that LevelDB's bytewise order is numeric order:
 *   metadata record: [tag u8][groupId u32]             tags HARD_STATE, SNAPSHOT, CONF, LOG_START
 *   log entry:       [TAG_ENTRY u8][groupId u32][index u64]
 * Tags 0x00..0x1f are reserved for this module; other modules may share the database with keys
 * whose first byte lies outside that range (the loader only scans the reserved range).
 *
 * Values are [crc32 u32][version u8][body]. The CRC covers the key and everything after the CRC
 * itself, so a value that is damaged, truncated, or stored under the wrong key is detected.
 * Entry bodies are [term u64][type u8][data...]: hand-rolled, no protobuf dependency, and the
 * entry data returned to readers is a view into the encoded value (no second copy).
 */
import { assert } from '../raft/errors.js';
import {
  EntryType,
  type ConfState,
  type Entry,
  type GroupId,
  type HardState,
  type Index,
  type NodeId,
  type SnapshotMetadata,
  type Term,
} from '../raft/types.js';
import { getU32, getU64, putU32, putU64 } from './be-bytes.js';
import { crc32 } from './crc.js';

/** TAG_HARD_STATE keys a group's HardState record. */
export const TAG_HARD_STATE = 0x01;
/** TAG_SNAPSHOT keys a group's latest snapshot metadata. */
export const TAG_SNAPSHOT = 0x02;
/** TAG_CONF keys a group's membership as of its applied index (see ConfRecord). */
export const TAG_CONF = 0x03;
/** TAG_LOG_START keys the (index, term) the log is compacted through (log[0] in memory). */
export const TAG_LOG_START = 0x04;
/** TAG_ENTRY prefixes log entry keys. */
export const TAG_ENTRY = 0x10;
/** TAG_RESERVED_END is the first tag byte NOT owned by the log module. */
export const TAG_RESERVED_END = 0x20;

/** META_KEY_BYTES is the length of a metadata key: tag + group id. */
export const META_KEY_BYTES = 5;
/** ENTRY_KEY_BYTES is the length of an entry key: tag + group id + index. */
export const ENTRY_KEY_BYTES = 13;
/** GROUP_ID_MAX is the largest group id a key can hold (u32). */
export const GROUP_ID_MAX = 0xffffffff;

const RECORD_VERSION = 1;
const HEADER_BYTES = 5; // crc u32 + version u8
const ENTRY_BODY_FIXED_BYTES = 9; // term u64 + type u8

/** ConfRecord is a group's membership together with the applied index it holds at. */
export interface ConfRecord {
  confState: ConfState;
  appliedIndex: Index;
}

/** LogStart is the compaction point: the log holds entries from index + 1; term(index) = term. */
export interface LogStart {
  index: Index;
  term: Term;
}

/** RecordDecodeError says a record is malformed; the loader adds group, index and path. */
export class RecordDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RecordDecodeError';
  }
}

/** metaKey builds the key of a group's metadata record with `tag`. */
export function metaKey(tag: number, group: GroupId): Uint8Array {
  const key = new Uint8Array(META_KEY_BYTES);
  key[0] = tag;
  putU32(key, 1, group);
  return key;
}

/** entryKey builds the key of a group's log entry at `index`. */
export function entryKey(group: GroupId, index: Index): Uint8Array {
  const key = new Uint8Array(ENTRY_KEY_BYTES);
  key[0] = TAG_ENTRY;
  putU32(key, 1, group);
  writeU64(key, 5, index);
  return key;
}

/** ParsedKey is what a key names: its tag, group and (for entries) index, else 0. */
export interface ParsedKey {
  tag: number;
  group: GroupId;
  index: Index;
}

/** parseKey reads a key of the reserved range; throws RecordDecodeError if malformed. */
export function parseKey(key: Uint8Array): ParsedKey {
  const tag = key.length > 0 ? key[0]! : -1;
  const expected = tag === TAG_ENTRY ? ENTRY_KEY_BYTES : META_KEY_BYTES;
  if (key.length !== expected || !isKnownTag(tag)) {
    throw new RecordDecodeError(`malformed key ${hex(key)} (tag ${tag}, ${key.length} bytes)`);
  }
  const group = getU32(key, 1) as GroupId;
  return { tag, group, index: tag === TAG_ENTRY ? readU64(key, 5) : 0 };
}

function isKnownTag(tag: number): boolean {
  return (
    tag === TAG_HARD_STATE ||
    tag === TAG_SNAPSHOT ||
    tag === TAG_CONF ||
    tag === TAG_LOG_START ||
    tag === TAG_ENTRY
  );
}

/** encodeEntry encodes an entry's value (its index lives in the key). */
export function encodeEntry(key: Uint8Array, entry: Entry): Uint8Array {
  assert(
    Number.isInteger(entry.type) && entry.type >= 0 && entry.type <= 0xff,
    () => `entry ${entry.index}: type ${entry.type} does not fit a byte`,
  );
  const writer = new RecordWriter(ENTRY_BODY_FIXED_BYTES + entry.data.byteLength);
  writer.u64(entry.term);
  writer.u8(entry.type);
  writer.bytes(entry.data);
  return writer.seal(key);
}

/** decodeEntry decodes and checks an entry value stored under `key` (at `index`). */
export function decodeEntry(key: Uint8Array, index: Index, value: Uint8Array): Entry {
  const reader = RecordReader.open(key, value);
  const term = reader.u64();
  const type = reader.u8();
  if (term < 1) throw new RecordDecodeError(`entry term ${term} < 1`);
  if (EntryType[type] === undefined) throw new RecordDecodeError(`unknown entry type ${type}`);
  return { term, index, type: type as EntryType, data: reader.rest() };
}

/** encodeHardState encodes a HardState value. */
export function encodeHardState(key: Uint8Array, hardState: HardState): Uint8Array {
  const writer = new RecordWriter(24);
  writer.u64(hardState.term);
  writer.u64(hardState.vote);
  writer.u64(hardState.commit);
  return writer.seal(key);
}

/** decodeHardState decodes and checks a HardState value. */
export function decodeHardState(key: Uint8Array, value: Uint8Array): HardState {
  const reader = RecordReader.open(key, value);
  const hardState = { term: reader.u64(), vote: reader.u64() as NodeId, commit: reader.u64() };
  reader.end();
  return hardState;
}

/** encodeSnapshotMetadata encodes snapshot metadata (the snapshot's data is out of band). */
export function encodeSnapshotMetadata(key: Uint8Array, metadata: SnapshotMetadata): Uint8Array {
  const writer = new RecordWriter(16 + confStateBytes(metadata.confState));
  writer.u64(metadata.index);
  writer.u64(metadata.term);
  writer.confState(metadata.confState);
  return writer.seal(key);
}

/** decodeSnapshotMetadata decodes and checks snapshot metadata. */
export function decodeSnapshotMetadata(key: Uint8Array, value: Uint8Array): SnapshotMetadata {
  const reader = RecordReader.open(key, value);
  const metadata = { index: reader.u64(), term: reader.u64(), confState: reader.confState() };
  reader.end();
  return metadata;
}

/** encodeConfRecord encodes a ConfRecord. */
export function encodeConfRecord(key: Uint8Array, record: ConfRecord): Uint8Array {
  const writer = new RecordWriter(8 + confStateBytes(record.confState));
  writer.u64(record.appliedIndex);
  writer.confState(record.confState);
  return writer.seal(key);
}

/** decodeConfRecord decodes and checks a ConfRecord. */
export function decodeConfRecord(key: Uint8Array, value: Uint8Array): ConfRecord {
  const reader = RecordReader.open(key, value);
  const record = { appliedIndex: reader.u64(), confState: reader.confState() };
  reader.end();
  return record;
}

/** encodeLogStart encodes the compaction point. */
export function encodeLogStart(key: Uint8Array, start: LogStart): Uint8Array {
  const writer = new RecordWriter(16);
  writer.u64(start.index);
  writer.u64(start.term);
  return writer.seal(key);
}

/** decodeLogStart decodes and checks the compaction point. */
export function decodeLogStart(key: Uint8Array, value: Uint8Array): LogStart {
  const reader = RecordReader.open(key, value);
  const start = { index: reader.u64(), term: reader.u64() };
  reader.end();
  return start;
}

function confStateBytes(conf: ConfState): number {
  return 8 + 8 * (conf.voters.length + conf.learners.length);
}

/** RecordWriter fills a value buffer of a known body size, then seals it with its CRC. */
class RecordWriter {
  private readonly value: Uint8Array;
  private offset = HEADER_BYTES;

  constructor(bodyBytes: number) {
    this.value = new Uint8Array(HEADER_BYTES + bodyBytes);
    this.value[4] = RECORD_VERSION;
  }

  u8(v: number): void {
    this.value[this.offset] = v;
    this.offset += 1;
  }

  u64(v: number): void {
    writeU64(this.value, this.offset, v);
    this.offset += 8;
  }

  bytes(data: Uint8Array): void {
    this.value.set(data, this.offset);
    this.offset += data.byteLength;
  }

  confState(conf: ConfState): void {
    putU32(this.value, this.offset, conf.voters.length);
    putU32(this.value, this.offset + 4, conf.learners.length);
    this.offset += 8;
    for (const id of conf.voters) this.u64(id);
    for (const id of conf.learners) this.u64(id);
  }

  seal(key: Uint8Array): Uint8Array {
    assert(this.offset === this.value.length, () => `record ${this.offset}/${this.value.length}`);
    putU32(this.value, 0, crc32(this.value.subarray(4), crc32(key)));
    return this.value;
  }
}

/** RecordReader checks a value's CRC and version, then reads its body with bounds checks. */
class RecordReader {
  private offset = HEADER_BYTES;

  private constructor(private readonly value: Uint8Array) {}

  static open(key: Uint8Array, value: Uint8Array): RecordReader {
    if (value.length < HEADER_BYTES) {
      throw new RecordDecodeError(`value of ${value.length} bytes is shorter than its header`);
    }
    const stored = getU32(value, 0);
    const actual = crc32(value.subarray(4), crc32(key));
    if (stored !== actual) {
      throw new RecordDecodeError(
        `checksum mismatch (stored ${hex32(stored)}, computed ${hex32(actual)})`,
      );
    }
    const version = value[4];
    if (version !== RECORD_VERSION)
      throw new RecordDecodeError(`unknown record version ${version}`);
    return new RecordReader(value);
  }

  private need(bytes: number): void {
    if (this.offset + bytes > this.value.length) {
      throw new RecordDecodeError(`truncated: need ${bytes} bytes at offset ${this.offset}`);
    }
  }

  u8(): number {
    this.need(1);
    return this.value[this.offset++]!;
  }

  u64(): number {
    this.need(8);
    const v = readU64(this.value, this.offset);
    this.offset += 8;
    return v;
  }

  rest(): Uint8Array {
    const data = this.value.subarray(this.offset);
    this.offset = this.value.length;
    return data;
  }

  confState(): ConfState {
    this.need(8);
    const voterCount = getU32(this.value, this.offset);
    const learnerCount = getU32(this.value, this.offset + 4);
    this.offset += 8;
    this.need(8 * (voterCount + learnerCount));
    const voters: NodeId[] = [];
    const learners: NodeId[] = [];
    for (let i = 0; i < voterCount; i++) voters.push(this.u64() as NodeId);
    for (let i = 0; i < learnerCount; i++) learners.push(this.u64() as NodeId);
    return { voters, learners };
  }

  end(): void {
    if (this.offset !== this.value.length) {
      throw new RecordDecodeError(`${this.value.length - this.offset} trailing bytes`);
    }
  }
}

function writeU64(bytes: Uint8Array, offset: number, v: number): void {
  assert(Number.isSafeInteger(v) && v >= 0, () => `u64 field: ${v} is not a safe integer >= 0`);
  putU64(bytes, offset, v);
}

function readU64(bytes: Uint8Array, offset: number): number {
  const value = getU64(bytes, offset);
  if (value < 0) throw new RecordDecodeError(`u64 at ${offset} exceeds 2^53`);
  return value;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

function hex32(v: number): string {
  return `0x${v.toString(16).padStart(8, '0')}`;
}
