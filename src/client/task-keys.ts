/**
 * The runtime's keys inside a task's namespace (src/store/kv-tasks.ts gives the namespace):
 *   {task:<id>}/s/<key>                 the task's state (TaskState keys)
 *   {task:<id>}/o/<seq>/<chunk>         the outbox: records emitted by checkpoint `seq`,
 *                                       encoded in chunks (encodeOutboxChunk)
 * and the binary form of outbox chunks. seq and chunk are fixed-width hex, so the outbox reads
 * back in seq order and one range delete trims every seq up to a bound.
 */
import { hex, taskPrefixText } from '../store/kv-tasks.js';
import { toBytes, type Key } from './keys.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** DEDUP_HEADER is the Kafka header carrying an output record's id `<taskId>:<seq>:<n>`. */
export const DEDUP_HEADER = 'strata-id';

/** TaskKeys are the byte prefixes of one task's state and outbox. */
export interface TaskKeys {
  taskId: string;
  /** state is the prefix of every state key. */
  state: Uint8Array;
  /** outbox is the prefix of every outbox chunk. */
  outbox: Uint8Array;
}

/** taskKeys returns the prefixes of a task (its id must be valid: checked by the store). */
export function taskKeys(taskId: string): TaskKeys {
  const prefix = taskPrefixText(taskId);
  return { taskId, state: encoder.encode(`${prefix}s/`), outbox: encoder.encode(`${prefix}o/`) };
}

/** stateKey returns the full key of a state key. */
export function stateKey(keys: TaskKeys, key: Key): Uint8Array {
  return concat(keys.state, toBytes(key));
}

/** outboxChunkKey returns the key of chunk `chunk` of checkpoint `seq`'s outbox. */
export function outboxChunkKey(keys: TaskKeys, seq: number, chunk: number): Uint8Array {
  return concat(keys.outbox, encoder.encode(`${hex(seq, 16)}/${hex(chunk, 8)}`));
}

/** outboxBound returns the first outbox key after every chunk of seqs <= `seq`. */
export function outboxBound(keys: TaskKeys, seq: number): Uint8Array {
  return concat(keys.outbox, encoder.encode(`${hex(seq + 1, 16)}/`));
}

/** outboxSeqOf reads the seq of an outbox chunk key (NaN if it is not one). */
export function outboxSeqOf(keys: TaskKeys, key: Uint8Array): number {
  const rest = decoder.decode(key.subarray(keys.outbox.length));
  return parseInt(rest.slice(0, 16), 16);
}

/** concat joins byte strings. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  return concatAll(parts);
}

/** concatAll joins an array of byte strings (any length: no argument spreading). */
export function concatAll(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** OutboxRecord is one emitted record as stored: bytes, with its id once numbered. */
export interface OutboxRecord {
  topic: string;
  key: Uint8Array | null;
  value: Uint8Array | null;
  /** partition is -1 for Kafka's partitioner. */
  partition: number;
  headers: [string, Uint8Array][];
}

/** outboxRecordBytes estimates a record's stored size (for the buffer bound and chunking). */
export function outboxRecordBytes(record: OutboxRecord): number {
  let bytes = 16 + record.topic.length + (record.key?.length ?? 0) + (record.value?.length ?? 0);
  for (const [name, value] of record.headers) bytes += 6 + name.length + value.length;
  return bytes;
}

/**
 * encodeOutboxChunk encodes records as: [count u32] then per record [topic len u16][topic]
 * [partition i32][key len i32, -1 null][key][value len i32, -1 null][value][header count u16]
 * and per header [name len u16][name][value len u32][value]. Names are UTF-8.
 */
export function encodeOutboxChunk(records: readonly OutboxRecord[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const head = new DataView(new ArrayBuffer(4));
  head.setUint32(0, records.length);
  parts.push(new Uint8Array(head.buffer));
  for (const record of records) {
    const topic = encoder.encode(record.topic);
    const fixed = new DataView(new ArrayBuffer(2));
    fixed.setUint16(0, topic.length);
    parts.push(new Uint8Array(fixed.buffer), topic, int32(record.partition));
    parts.push(...optionalBytes(record.key), ...optionalBytes(record.value));
    const count = new DataView(new ArrayBuffer(2));
    count.setUint16(0, record.headers.length);
    parts.push(new Uint8Array(count.buffer));
    for (const [name, value] of record.headers) {
      const nameBytes = encoder.encode(name);
      const lengths = new DataView(new ArrayBuffer(6));
      lengths.setUint16(0, nameBytes.length);
      lengths.setUint32(2, value.length);
      parts.push(new Uint8Array(lengths.buffer, 0, 2), nameBytes);
      parts.push(new Uint8Array(lengths.buffer, 2, 4), value);
    }
  }
  return concatAll(parts);
}

/** decodeOutboxChunk decodes encodeOutboxChunk's bytes; throws RangeError if they are bad. */
export function decodeOutboxChunk(bytes: Uint8Array): OutboxRecord[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const take = (n: number): number => {
    if (at + n > bytes.length) throw new RangeError(`outbox chunk truncated at ${at}`);
    const start = at;
    at += n;
    return start;
  };
  const count = view.getUint32(take(4));
  const records: OutboxRecord[] = [];
  for (let i = 0; i < count; i++) {
    const topicLength = view.getUint16(take(2));
    const topic = decoder.decode(bytes.subarray(take(topicLength), at));
    const partition = view.getInt32(take(4));
    const readOptional = (): Uint8Array | null => {
      const length = view.getInt32(take(4));
      return length < 0 ? null : bytes.slice(take(length), at);
    };
    const key = readOptional();
    const value = readOptional();
    const headerCount = view.getUint16(take(2));
    const headers: [string, Uint8Array][] = [];
    for (let h = 0; h < headerCount; h++) {
      const nameLength = view.getUint16(take(2));
      const name = decoder.decode(bytes.subarray(take(nameLength), at));
      const valueLength = view.getUint32(take(4));
      headers.push([name, bytes.slice(take(valueLength), at)]);
    }
    records.push({ topic, key, value, partition, headers });
  }
  if (at !== bytes.length)
    throw new RangeError(`outbox chunk has ${bytes.length - at} extra bytes`);
  return records;
}

function int32(value: number): Uint8Array {
  const view = new DataView(new ArrayBuffer(4));
  view.setInt32(0, value);
  return new Uint8Array(view.buffer);
}

function optionalBytes(bytes: Uint8Array | null): Uint8Array[] {
  if (bytes === null) return [int32(-1)];
  return [int32(bytes.length), bytes];
}
