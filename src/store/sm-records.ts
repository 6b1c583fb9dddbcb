/**
 * Binary layout of the KV state machine's records in its LevelDB (see sm-state-machine.ts).
 *
 * Keys are big-endian, so LevelDB's bytewise order is numeric order and one group's records of
 * one kind are one contiguous range:
 *   applied index:   [TAG_APPLIED u8][group u32]
 *   restore marker:  [TAG_RESTORE u8][group u32]
 *   client session:  [TAG_SESSION u8][group u32][clientId u64]
 *   user data:       [TAG_DATA u8][group u32][user key]
 *   group metadata:  [TAG_META u8][group u32]     (opaque to the state machine)
 *   sync marker:     [TAG_SYNC u8]                (written by flush() to force an fsync)
 * The tags lie outside 0x00..0x1f (owned by the Raft log's records, log-codec.ts), so the two
 * may share one database.
 *
 * Values are [crc32 u32][format u8][body]. The CRC covers the key's suffix after the group (the
 * user key or client id), the format byte and the body: a damaged or truncated value, or one
 * stored under the wrong key, is detected, while a record stays valid when a snapshot moves it to
 * another group. Bodies:
 *   data:    [modIndex u64][createIndex u64][version u64][value...]
 *   session: [lastSeq u64][lastIndex u64][reply: encoded CommandResult...]
 *   applied: [appliedIndex u64]
 *   meta:    [metadata...]
 *   restore: [snapshotIndex u64][nextChunk u32][flags u8][records u64][contextLength u32]
 *            [context...][carry...]   (flags bit 0: the snapshot's end record was written)
 * Every decode checks CRC, format and lengths, and throws CorruptionError naming the key.
 */
import { CorruptionError, assert } from '../raft/errors.js';
import type { GroupId, Index } from '../raft/types.js';
import { getU32, getU64, putU32, putU64 } from './be-bytes.js';
import { crc32 } from './crc.js';

/** TAG_APPLIED keys a group's applied index. */
export const TAG_APPLIED = 0x40;
/** TAG_RESTORE keys a group's restore-in-progress marker. */
export const TAG_RESTORE = 0x41;
/** TAG_SESSION prefixes a group's client session records. */
export const TAG_SESSION = 0x42;
/** TAG_DATA prefixes a group's user keys. */
export const TAG_DATA = 0x43;
/** TAG_META keys a group's opaque metadata (the node keeps the membership there). */
export const TAG_META = 0x44;
/** TAG_SYNC keys the record flush() rewrites with sync to make earlier writes durable. */
export const TAG_SYNC = 0x45;
/** GROUP_PREFIX_BYTES is the length of [tag u8][group u32]. */
export const GROUP_PREFIX_BYTES = 5;

const FORMAT = 1;
const HEADER_BYTES = 5; // crc u32 + format u8
const DATA_FIXED_BYTES = 24;
const SESSION_FIXED_BYTES = 16;
const RESTORE_FIXED_BYTES = 25;

/** StoredValue is a user key's record. Invariant: 1 <= createIndex <= modIndex, version >= 1. */
export interface StoredValue {
  value: Uint8Array;
  modIndex: Index;
  createIndex: Index;
  version: number;
}

/** SessionRecord is a client session: its last seq, the index that wrote it, and the reply. */
export interface SessionRecord {
  lastSeq: number;
  lastIndex: Index;
  /** reply is the encoded CommandResult of lastSeq. */
  reply: Uint8Array;
}

/** RestoreMarker says a group's restore from a snapshot is in progress (and how far it got). */
export interface RestoreMarker {
  snapshotIndex: Index;
  /** nextChunk is the number of the first chunk not yet written. */
  nextChunk: number;
  /** ended is true once the snapshot's end record was written (restoreFinish may run). */
  ended: boolean;
  /** records counts the snapshot records written so far (checked against the end record). */
  records: number;
  /** context is the caller's opaque data (for example the Raft snapshot metadata). */
  context: Uint8Array;
  /** carry holds the bytes of a record split across chunks, not yet complete. */
  carry: Uint8Array;
}

/** groupPrefix returns [tag][group], the first bytes of every key of `group` with `tag`. */
export function groupPrefix(tag: number, group: GroupId): Uint8Array {
  const key = new Uint8Array(GROUP_PREFIX_BYTES);
  key[0] = tag;
  putU32(key, 1, group);
  return key;
}

/** groupRange returns the bounds {gte, lt} of all keys of `group` with `tag`. */
export function groupRange(tag: number, group: GroupId): { gte: Uint8Array; lt: Uint8Array } {
  assert(tag < 0xff, () => `tag ${tag} has no successor`);
  const lt =
    group === 0xffffffff ? Uint8Array.of(tag + 1) : groupPrefix(tag, (group + 1) as GroupId);
  return { gte: groupPrefix(tag, group), lt };
}

/** tagRange returns the bounds {gte, lt} of all keys with `tag` (every group). */
export function tagRange(tag: number): { gte: Uint8Array; lt: Uint8Array } {
  return { gte: Uint8Array.of(tag), lt: Uint8Array.of(tag + 1) };
}

/** groupOfKey reads the group of a key of this module. */
export function groupOfKey(key: Uint8Array): GroupId {
  assert(key.length >= GROUP_PREFIX_BYTES, () => `key of ${key.length} bytes has no group`);
  return getU32(key, 1) as GroupId;
}

/** dataKey returns the database key of `userKey` in `group`. */
export function dataKey(group: GroupId, userKey: Uint8Array): Uint8Array {
  const key = new Uint8Array(GROUP_PREFIX_BYTES + userKey.length);
  key[0] = TAG_DATA;
  putU32(key, 1, group);
  key.set(userKey, GROUP_PREFIX_BYTES);
  return key;
}

/** keySuffix returns the part of a key after [tag][group] (a view, not a copy). */
export function keySuffix(key: Uint8Array): Uint8Array {
  return key.subarray(GROUP_PREFIX_BYTES);
}

/** sessionKey returns the database key of `clientId`'s session in `group`. */
export function sessionKey(group: GroupId, clientId: number): Uint8Array {
  const key = new Uint8Array(GROUP_PREFIX_BYTES + 8);
  key[0] = TAG_SESSION;
  putU32(key, 1, group);
  writeU64(key, GROUP_PREFIX_BYTES, clientId);
  return key;
}

/** clientIdOfSuffix reads the client id from a session key's suffix (8 bytes). */
export function clientIdOfSuffix(suffix: Uint8Array, where: string): number {
  if (suffix.length !== 8) throw new CorruptionError(`${where}: session key suffix is not 8 bytes`);
  return readU64(suffix, 0, where);
}

/** encodeDataValue encodes a user key's record (the CRC covers `userKey`). */
export function encodeDataValue(userKey: Uint8Array, stored: StoredValue): Uint8Array {
  assert(
    stored.createIndex >= 1 && stored.createIndex <= stored.modIndex && stored.version >= 1,
    () => `bad record: create ${stored.createIndex} mod ${stored.modIndex} v ${stored.version}`,
  );
  const out = new Uint8Array(HEADER_BYTES + DATA_FIXED_BYTES + stored.value.length);
  writeU64(out, HEADER_BYTES, stored.modIndex);
  writeU64(out, HEADER_BYTES + 8, stored.createIndex);
  writeU64(out, HEADER_BYTES + 16, stored.version);
  out.set(stored.value, HEADER_BYTES + DATA_FIXED_BYTES);
  return seal(userKey, out);
}

/** decodeDataValue decodes and checks a user key's record; `where` names it in errors. */
export function decodeDataValue(
  userKey: Uint8Array,
  bytes: Uint8Array,
  where: string,
): StoredValue {
  unseal(userKey, bytes, DATA_FIXED_BYTES, where);
  const stored: StoredValue = {
    modIndex: readU64(bytes, HEADER_BYTES, where),
    createIndex: readU64(bytes, HEADER_BYTES + 8, where),
    version: readU64(bytes, HEADER_BYTES + 16, where),
    value: plainView(bytes, HEADER_BYTES + DATA_FIXED_BYTES),
  };
  const { modIndex, createIndex, version } = stored;
  if (createIndex < 1 || createIndex > modIndex || version < 1) {
    throw new CorruptionError(`${where}: bad record (create ${createIndex}, mod ${modIndex})`);
  }
  return stored;
}

/** encodeSessionValue encodes a client session (the CRC covers the client id key suffix). */
export function encodeSessionValue(keySuffixBytes: Uint8Array, session: SessionRecord): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + SESSION_FIXED_BYTES + session.reply.length);
  writeU64(out, HEADER_BYTES, session.lastSeq);
  writeU64(out, HEADER_BYTES + 8, session.lastIndex);
  out.set(session.reply, HEADER_BYTES + SESSION_FIXED_BYTES);
  return seal(keySuffixBytes, out);
}

/** decodeSessionValue decodes and checks a client session record. */
export function decodeSessionValue(
  keySuffixBytes: Uint8Array,
  bytes: Uint8Array,
  where: string,
): SessionRecord {
  unseal(keySuffixBytes, bytes, SESSION_FIXED_BYTES, where);
  const session: SessionRecord = {
    lastSeq: readU64(bytes, HEADER_BYTES, where),
    lastIndex: readU64(bytes, HEADER_BYTES + 8, where),
    reply: plainView(bytes, HEADER_BYTES + SESSION_FIXED_BYTES),
  };
  if (session.lastSeq < 1 || session.lastIndex < 1) {
    throw new CorruptionError(`${where}: bad session (seq ${session.lastSeq})`);
  }
  return session;
}

/** encodeAppliedValue encodes a group's applied index. */
export function encodeAppliedValue(appliedIndex: Index): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + 8);
  writeU64(out, HEADER_BYTES, appliedIndex);
  return seal(EMPTY, out);
}

/** decodeAppliedValue decodes and checks a group's applied index. */
export function decodeAppliedValue(bytes: Uint8Array, where: string): Index {
  unseal(EMPTY, bytes, 8, where);
  return readU64(bytes, HEADER_BYTES, where);
}

/** encodeMetaValue encodes a group's opaque metadata. */
export function encodeMetaValue(meta: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + meta.length);
  out.set(meta, HEADER_BYTES);
  return seal(EMPTY, out);
}

/** decodeMetaValue decodes and checks a group's opaque metadata (a copy). */
export function decodeMetaValue(bytes: Uint8Array, where: string): Uint8Array {
  unseal(EMPTY, bytes, 0, where);
  return copyBytes(bytes, HEADER_BYTES);
}

/** encodeRestoreMarker encodes a restore marker. */
export function encodeRestoreMarker(marker: RestoreMarker): Uint8Array {
  const fixed = HEADER_BYTES + RESTORE_FIXED_BYTES;
  const out = new Uint8Array(fixed + marker.context.length + marker.carry.length);
  writeU64(out, HEADER_BYTES, marker.snapshotIndex);
  putU32(out, HEADER_BYTES + 8, marker.nextChunk);
  out[HEADER_BYTES + 12] = marker.ended ? 1 : 0;
  writeU64(out, HEADER_BYTES + 13, marker.records);
  putU32(out, HEADER_BYTES + 21, marker.context.length);
  out.set(marker.context, fixed);
  out.set(marker.carry, fixed + marker.context.length);
  return seal(EMPTY, out);
}

/** decodeRestoreMarker decodes and checks a restore marker. */
export function decodeRestoreMarker(bytes: Uint8Array, where: string): RestoreMarker {
  unseal(EMPTY, bytes, RESTORE_FIXED_BYTES, where);
  const fixed = HEADER_BYTES + RESTORE_FIXED_BYTES;
  const contextLength = getU32(bytes, HEADER_BYTES + 21);
  const flags = bytes[HEADER_BYTES + 12]!;
  if (fixed + contextLength > bytes.length || flags > 1) {
    throw new CorruptionError(`${where}: bad restore marker (context ${contextLength})`);
  }
  return {
    snapshotIndex: readU64(bytes, HEADER_BYTES, where),
    nextChunk: getU32(bytes, HEADER_BYTES + 8),
    ended: flags === 1,
    records: readU64(bytes, HEADER_BYTES + 13, where),
    context: copyBytes(bytes, fixed, fixed + contextLength),
    carry: copyBytes(bytes, fixed + contextLength),
  };
}

// ---- helpers ----

const EMPTY = new Uint8Array(0);

/** seal writes the format byte and the CRC (over `covered`, then the rest of `out`). */
function seal(covered: Uint8Array, out: Uint8Array): Uint8Array {
  out[4] = FORMAT;
  putU32(out, 0, crc32(out.subarray(4), crc32(covered)));
  return out;
}

/** unseal checks length, CRC and format of a value with `fixedBytes` after its header. */
function unseal(covered: Uint8Array, bytes: Uint8Array, fixedBytes: number, where: string): void {
  if (bytes.length < HEADER_BYTES + fixedBytes) {
    throw new CorruptionError(`${where}: value of ${bytes.length} bytes is truncated`);
  }
  const expected = getU32(bytes, 0);
  if (crc32(bytes.subarray(4), crc32(covered)) !== expected) {
    throw new CorruptionError(`${where}: checksum mismatch`);
  }
  if (bytes[4] !== FORMAT) throw new CorruptionError(`${where}: unknown format ${bytes[4]}`);
}

/** plainView returns bytes[start, end) as a plain Uint8Array view (not a Buffer), no copy. */
export function plainView(bytes: Uint8Array, start = 0, end = bytes.length): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset + start, end - start);
}

/** copyBytes returns a copy of bytes[start, end) as a plain Uint8Array (never a Buffer view). */
export function copyBytes(bytes: Uint8Array, start = 0, end = bytes.length): Uint8Array {
  return new Uint8Array(bytes.subarray(start, end));
}

/** writeU64 writes a safe non-negative integer as a big-endian u64 into `bytes`. */
export function writeU64(bytes: Uint8Array, offset: number, value: number): void {
  assert(Number.isSafeInteger(value) && value >= 0, () => `u64 ${value} is not a safe integer`);
  putU64(bytes, offset, value);
}

/** readU64 reads a big-endian u64 of `bytes`, throwing CorruptionError above 2^53 - 1. */
export function readU64(bytes: Uint8Array, offset: number, where: string): number {
  const value = getU64(bytes, offset);
  if (value < 0) throw new CorruptionError(`${where}: u64 above 2^53 - 1`);
  return value;
}
