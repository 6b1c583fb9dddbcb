/**
 * Snapshot stream format of one group's state machine, and its two halves: producing chunks
 * from a consistent LevelDB snapshot, and turning received chunks back into records to write.
 *
 * The stream is a sequence of records, each [kind u8][keyLength u32][valueLength u32][key]
 * [value], in this order: one HEADER (value [format u8][source group u32][appliedIndex u64]),
 * the group's SESSION records (key: client id u64, value: the stored session record), its DATA
 * records (key: the user key, value: the stored data record) and one END (value [records u64],
 * the number of records before it). Stored records travel verbatim: their CRC does not cover the
 * group (sm-records.ts), so they stay valid under another group id.
 *
 * The record stream is cut into payloads of exactly SNAPSHOT_PAYLOAD_BYTES (the last one
 * shorter); a record may straddle payloads (the restorer keeps the unfinished tail as `carry`).
 * The cut depends only on the records, so the same state always gives the same chunks: a sender
 * can resume a transfer from any chunk number. Each chunk is
 *   [encoding u8][chunk number u32][payload length u32][crc32 of payload u32][body]
 * where the body is the payload compressed with brotli (quality 1, chosen by measurement: on
 * 1 MiB of typical records it compressed faster than deflate level 1 and smaller, 0.20-0.30 of
 * the input) or, if that does not make it smaller, the payload itself. So a chunk never exceeds
 * SNAPSHOT_CHUNK_BYTES_MAX. Compression runs on libuv's thread pool (async zlib), off the event
 * loop; decompression is bounded by the payload size (no decompression bombs).
 */
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { CorruptionError, assert } from '../raft/errors.js';
import type { GroupId, Index } from '../raft/types.js';
import { MalformedError } from './kv-errors.js';
import { KEY_BYTES_MAX, SNAPSHOT_CHUNK_BYTES_MAX } from './kv-limits.js';
import { crc32 } from './crc.js';
import {
  GROUP_PREFIX_BYTES,
  TAG_DATA,
  TAG_SESSION,
  dataKey,
  decodeDataValue,
  decodeSessionValue,
  groupRange,
  readU64,
  sessionKey,
  clientIdOfSuffix,
  copyBytes,
  writeU64,
  type RestoreMarker,
} from './sm-records.js';
import { getU32, putU32 } from './be-bytes.js';
import type { Db } from './sm-view.js';

/** SnapshotChunk is one piece of a group's snapshot stream. */
export interface SnapshotChunk {
  /** index numbers the chunks of a stream from 0. */
  index: number;
  /** data is the encoded chunk (at most SNAPSHOT_CHUNK_BYTES_MAX); it carries its index. */
  data: Uint8Array;
  /** last is true for the stream's final chunk. */
  last: boolean;
}

/** CHUNK_HEADER_BYTES is the size of a chunk's header. */
export const CHUNK_HEADER_BYTES = 13;
/** SNAPSHOT_PAYLOAD_BYTES is the record bytes per chunk (all chunks but the last). */
export const SNAPSHOT_PAYLOAD_BYTES = SNAPSHOT_CHUNK_BYTES_MAX - CHUNK_HEADER_BYTES;
/** SNAPSHOT_RECORD_VALUE_BYTES_MAX bounds one record's value (a session's reply is the largest). */
export const SNAPSHOT_RECORD_VALUE_BYTES_MAX = 8 * 1024 * 1024;
/** SNAPSHOT_BROTLI_QUALITY is the brotli quality of chunks (see the module comment). */
export const SNAPSHOT_BROTLI_QUALITY = 1;

const ENCODING_RAW = 0;
const ENCODING_BROTLI = 1;
const RECORD_HEADER = 1;
const RECORD_SESSION = 2;
const RECORD_DATA = 3;
const RECORD_END = 4;
const RECORD_PREFIX_BYTES = 9;
const STREAM_FORMAT = 1;
const HEADER_VALUE_BYTES = 13;
const ITERATOR_BATCH = 256;

const brotliCompress = promisify(zlib.brotliCompress);
const brotliDecompress = promisify(zlib.brotliDecompress);

// ---- Producing ----

/** PayloadCutter accumulates records and cuts them into fixed-size payloads. */
class PayloadCutter {
  private payload = new Uint8Array(SNAPSHOT_PAYLOAD_BYTES);
  private used = 0;
  /** full holds the payloads completed and not yet taken. */
  readonly full: Uint8Array[] = [];
  /** records counts the records written. */
  records = 0;

  writeRecord(kind: number, key: Uint8Array, value: Uint8Array): void {
    const prefix = new Uint8Array(RECORD_PREFIX_BYTES);
    prefix[0] = kind;
    putU32(prefix, 1, key.length);
    putU32(prefix, 5, value.length);
    this.write(prefix);
    this.write(key);
    this.write(value);
    this.records++;
  }

  private write(bytes: Uint8Array): void {
    let offset = 0;
    while (offset < bytes.length) {
      const n = Math.min(bytes.length - offset, SNAPSHOT_PAYLOAD_BYTES - this.used);
      this.payload.set(bytes.subarray(offset, offset + n), this.used);
      this.used += n;
      offset += n;
      if (this.used === SNAPSHOT_PAYLOAD_BYTES) {
        this.full.push(this.payload);
        this.payload = new Uint8Array(SNAPSHOT_PAYLOAD_BYTES);
        this.used = 0;
      }
    }
  }

  /** rest returns the last, partial payload (possibly empty). */
  rest(): Uint8Array {
    return this.payload.subarray(0, this.used);
  }
}

/** encodeChunk builds chunk `index` from a payload, compressed if that makes it smaller. */
export async function encodeChunk(index: number, payload: Uint8Array): Promise<Uint8Array> {
  assert(payload.length <= SNAPSHOT_PAYLOAD_BYTES, () => `payload of ${payload.length} bytes`);
  const compressed = await brotliCompress(payload, {
    params: {
      [zlib.constants.BROTLI_PARAM_QUALITY]: SNAPSHOT_BROTLI_QUALITY,
      [zlib.constants.BROTLI_PARAM_SIZE_HINT]: payload.length,
    },
  });
  const useRaw = compressed.length >= payload.length;
  const body = useRaw ? payload : compressed;
  const chunk = new Uint8Array(CHUNK_HEADER_BYTES + body.length);
  chunk[0] = useRaw ? ENCODING_RAW : ENCODING_BROTLI;
  putU32(chunk, 1, index);
  putU32(chunk, 5, payload.length);
  putU32(chunk, 9, crc32(payload));
  chunk.set(body, CHUNK_HEADER_BYTES);
  assert(chunk.length <= SNAPSHOT_CHUNK_BYTES_MAX, () => `chunk of ${chunk.length} bytes`);
  return chunk;
}

/** chunkIndexOf reads the chunk number of an encoded chunk; throws MalformedError. */
export function chunkIndexOf(chunk: Uint8Array): number {
  if (!(chunk instanceof Uint8Array) || chunk.length < CHUNK_HEADER_BYTES) {
    throw new MalformedError('SnapshotChunk', '', 'shorter than its header');
  }
  return getU32(chunk, 1);
}

/**
 * snapshotChunks yields the chunks of `group`'s snapshot read through LevelDB `snapshot`
 * (whose applied index is `appliedIndex`), from chunk number `fromChunk` on (earlier chunks are
 * cut but not compressed). Pulling drives the reads: nothing is read ahead of the consumer.
 */
export async function* snapshotChunks(
  db: Db,
  snapshot: ReturnType<Db['snapshot']>,
  group: GroupId,
  appliedIndex: Index,
  fromChunk: number,
): AsyncGenerator<SnapshotChunk> {
  const cutter = new PayloadCutter();
  let next = 0;
  const header = new Uint8Array(HEADER_VALUE_BYTES);
  header[0] = STREAM_FORMAT;
  putU32(header, 1, group);
  writeU64(header, 5, appliedIndex);
  cutter.writeRecord(RECORD_HEADER, new Uint8Array(0), header);
  for (const [tag, kind] of [
    [TAG_SESSION, RECORD_SESSION],
    [TAG_DATA, RECORD_DATA],
  ] as const) {
    const iterator = db.iterator({ ...groupRange(tag, group), snapshot });
    try {
      for (;;) {
        const batch = await iterator.nextv(ITERATOR_BATCH);
        if (batch.length === 0) break;
        for (const [key, value] of batch) {
          cutter.writeRecord(kind, key.subarray(GROUP_PREFIX_BYTES), value);
        }
        for (const payload of cutter.full.splice(0)) {
          if (next >= fromChunk)
            yield { index: next, data: await encodeChunk(next, payload), last: false };
          next++;
        }
      }
    } finally {
      await iterator.close();
    }
  }
  const end = new Uint8Array(8);
  writeU64(end, 0, cutter.records);
  cutter.writeRecord(RECORD_END, new Uint8Array(0), end);
  const payloads = cutter.full.splice(0);
  if (cutter.rest().length > 0 || payloads.length === 0) payloads.push(cutter.rest());
  for (let i = 0; i < payloads.length; i++) {
    const last = i === payloads.length - 1;
    if (next >= fromChunk) yield { index: next, data: await encodeChunk(next, payloads[i]), last };
    next++;
  }
}

// ---- Restoring ----

/** decodeChunk checks and decompresses an encoded chunk; throws MalformedError. */
export async function decodeChunk(
  chunk: Uint8Array,
): Promise<{ index: number; payload: Uint8Array }> {
  const index = chunkIndexOf(chunk);
  const encoding = chunk[0];
  const length = getU32(chunk, 5);
  const body = chunk.subarray(CHUNK_HEADER_BYTES);
  if (length > SNAPSHOT_PAYLOAD_BYTES) {
    throw new MalformedError('SnapshotChunk', 'payloadLength', `${length} is above the limit`);
  }
  let payload: Uint8Array;
  if (encoding === ENCODING_RAW) {
    payload = body;
  } else if (encoding === ENCODING_BROTLI) {
    try {
      payload = await brotliDecompress(body, { maxOutputLength: Math.max(1, length) });
    } catch (error) {
      throw new MalformedError('SnapshotChunk', 'body', `cannot decompress (${error})`, {
        cause: error,
      });
    }
  } else {
    throw new MalformedError('SnapshotChunk', 'encoding', `unknown encoding ${encoding}`);
  }
  if (payload.length !== length || crc32(payload) !== getU32(chunk, 9)) {
    throw new MalformedError('SnapshotChunk', 'body', 'payload length or checksum mismatch');
  }
  return { index, payload };
}

/** RestoreWrite is one record to store in the group being restored. */
export interface RestoreWrite {
  key: Uint8Array;
  value: Uint8Array;
}

/**
 * restorePayload parses a chunk's payload (after the marker's carry) into the writes for
 * `group`, and returns them with the marker advanced past this chunk. Every record is checked
 * (kinds, order, sizes, stored-record CRCs, the header's index against the marker's); any
 * failure throws MalformedError and nothing is written.
 */
export function restorePayload(
  group: GroupId,
  marker: RestoreMarker,
  payload: Uint8Array,
): { writes: RestoreWrite[]; marker: RestoreMarker } {
  const bytes = concat(marker.carry, payload);
  const writes: RestoreWrite[] = [];
  let { records, ended } = marker;
  let offset = 0;
  while (bytes.length - offset >= RECORD_PREFIX_BYTES) {
    if (ended) throw malformed(records, 'bytes after the end record');
    const kind = bytes[offset]!;
    const keyLength = getU32(bytes, offset + 1);
    const valueLength = getU32(bytes, offset + 5);
    if (keyLength > KEY_BYTES_MAX || valueLength > SNAPSHOT_RECORD_VALUE_BYTES_MAX) {
      throw malformed(records, `record sizes ${keyLength}/${valueLength} above the limits`);
    }
    const keyStart = offset + RECORD_PREFIX_BYTES;
    const valueStart = keyStart + keyLength;
    if (valueStart + valueLength > bytes.length) break; // the rest comes with the next chunk
    const key = bytes.subarray(keyStart, valueStart);
    const value = bytes.subarray(valueStart, valueStart + valueLength);
    const write = restoreRecord(group, marker.snapshotIndex, records, kind, key, value);
    if (write === null) ended = kind === RECORD_END;
    else writes.push(write);
    if (!ended) records++;
    offset = valueStart + valueLength;
  }
  const carry = copyBytes(bytes, offset);
  if (ended && carry.length > 0) throw malformed(records, 'bytes after the end record');
  return { writes, marker: { ...marker, nextChunk: marker.nextChunk + 1, records, ended, carry } };
}

/** restoreRecord checks one record; returns its write, or null for HEADER and END. */
function restoreRecord(
  group: GroupId,
  snapshotIndex: Index,
  records: number,
  kind: number,
  key: Uint8Array,
  value: Uint8Array,
): RestoreWrite | null {
  if ((records === 0) !== (kind === RECORD_HEADER)) {
    throw malformed(records, `record kind ${kind} out of place`);
  }
  const where = `snapshot record ${records}`;
  try {
    switch (kind) {
      case RECORD_HEADER: {
        if (value.length !== HEADER_VALUE_BYTES || value[0] !== STREAM_FORMAT) {
          throw malformed(records, 'unknown snapshot header');
        }
        const applied = readU64(value, 5, where);
        if (applied !== snapshotIndex) {
          throw malformed(records, `snapshot of index ${applied}, restoring ${snapshotIndex}`);
        }
        return null;
      }
      case RECORD_SESSION:
        decodeSessionValue(key, value, where);
        return { key: sessionKey(group, clientIdOfSuffix(key, where)), value };
      case RECORD_DATA:
        if (key.length === 0) throw malformed(records, 'empty user key');
        decodeDataValue(key, value, where);
        return { key: dataKey(group, key), value };
      case RECORD_END:
        if (value.length !== 8 || readU64(value, 0, where) !== records) {
          throw malformed(records, 'end record does not match the record count');
        }
        return null;
      default:
        throw malformed(records, `unknown record kind ${kind}`);
    }
  } catch (error) {
    if (error instanceof CorruptionError) throw malformed(records, error.message);
    throw error;
  }
}

function malformed(records: number, reason: string): MalformedError {
  return new MalformedError('SnapshotChunk', `record ${records}`, reason);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
