/**
 * StateLayers: a task instance's view of its keyed state, as layers read top-down:
 *   record   the writes of the record being processed (dropped if process() throws)
 *   buffer   the writes since the last checkpoint was cut (the next checkpoint's ops)
 *   frozen   the writes of the checkpoint in flight (swapped out of `buffer` when it was cut)
 *   cache    committed values read or written before (valid: only this instance writes them,
 *            and a fenced instance stops)
 *   store    Strata, read at an index >= the last committed checkpoint's index (any replica)
 * Keys here are the task's own keys; the store keys are `{task:<id>}/s/<key>` (task-keys.ts).
 */
import { successorOfPrefix } from '../store/kv-tasks.js';
import type { KeyValue } from '../store/kv-types.js';
import { compareBytes, toBytes, type Key } from './keys.js';
import { concat, type TaskKeys } from './task-keys.js';
import type { StateEntry, StateRangeOptions, TaskState } from './task-types.js';

/** CACHE_ENTRIES_MAX_DEFAULT bounds the committed values an instance keeps in memory. */
export const CACHE_ENTRIES_MAX_DEFAULT = 200_000;
/** RANGE_LIMIT_DEFAULT is a state range's default (and largest) number of keys. */
export const RANGE_LIMIT_DEFAULT = 10_000;

/** BufferEntry is one buffered write: the key and its value, or null for a delete. */
export interface BufferEntry {
  key: Uint8Array;
  value: Uint8Array | null;
}

/** StateReader is what the layers read committed state from (a TaskClient fits). */
export interface StateReader {
  get(key: Uint8Array, options: { consistency: { atIndex: number } }): Promise<KeyValue | null>;
  scan(
    selection: { prefix: Uint8Array } | { start: Uint8Array; end: Uint8Array },
    options: { consistency: { atIndex: number }; keysMax?: number },
  ): Promise<KeyValue[]>;
}

/** WriteBuffer holds buffered writes by key, with their byte count. */
export class WriteBuffer {
  readonly entries = new Map<string, BufferEntry>();
  /** bytes counts the keys and values held. Invariant: the sum over entries. */
  bytes = 0;

  /** set records a write (null: delete) of `key` named `name`. */
  set(name: string, key: Uint8Array, value: Uint8Array | null): void {
    const before = this.entries.get(name);
    if (before !== undefined) this.bytes -= before.key.length + (before.value?.length ?? 0);
    this.entries.set(name, { key, value });
    this.bytes += key.length + (value?.length ?? 0);
  }

  /** mergeInto moves every write into `target` (later writes win). */
  mergeInto(target: WriteBuffer): void {
    for (const [name, entry] of this.entries) target.set(name, entry.key, entry.value);
    this.entries.clear();
    this.bytes = 0;
  }

  get size(): number {
    return this.entries.size;
  }
}

/** nameOf turns key bytes into a Map key (latin1 maps each byte to one char: bijective). */
export function nameOf(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

/** StateLayers is a task instance's state (see the module comment). */
export class StateLayers implements TaskState {
  record = new WriteBuffer();
  buffer = new WriteBuffer();
  frozen: WriteBuffer | null = null;
  /** readIndex is the index of the last committed checkpoint (reads go at or after it). */
  readIndex = 0;
  readonly #cache = new Map<string, Uint8Array | null>();
  readonly #keys: TaskKeys;
  readonly #reader: StateReader;
  readonly #cacheMax: number;

  constructor(keys: TaskKeys, reader: StateReader, cacheMax = CACHE_ENTRIES_MAX_DEFAULT) {
    this.#keys = keys;
    this.#reader = reader;
    this.#cacheMax = cacheMax;
  }

  /** get reads a key through the layers. */
  async get(key: Key): Promise<Uint8Array | null> {
    const bytes = toBytes(key);
    const name = nameOf(bytes);
    const written = this.#buffered(name);
    if (written !== undefined) return written.value;
    const cached = this.#cache.get(name);
    if (cached !== undefined) return cached;
    const kv = await this.#reader.get(concat(this.#keys.state, bytes), {
      consistency: { atIndex: this.readIndex },
    });
    const value = kv?.value ?? null;
    // A write since the read started wins (it is in a layer above the cache).
    if (this.#buffered(name) === undefined) this.#remember(name, value);
    return value;
  }

  put(key: Key, value: Key): void {
    const bytes = toBytes(key);
    if (bytes.length === 0) throw new RangeError('state keys must not be empty');
    this.record.set(nameOf(bytes), bytes, toBytes(value));
  }

  delete(key: Key): void {
    const bytes = toBytes(key);
    this.record.set(nameOf(bytes), bytes, null);
  }

  /** range reads keys in order: the store at readIndex, overlaid by the write layers. */
  async range(options: StateRangeOptions): Promise<StateEntry[]> {
    const limit = Math.min(options.limit ?? RANGE_LIMIT_DEFAULT, RANGE_LIMIT_DEFAULT);
    const inRange = rangePredicate(options);
    const layered = new Map<string, BufferEntry>();
    for (const layer of [this.frozen, this.buffer, this.record]) {
      if (layer === null) continue;
      for (const [name, entry] of layer.entries) if (inRange(entry.key)) layered.set(name, entry);
    }
    const stored = await this.#reader.scan(this.#selection(options), {
      consistency: { atIndex: this.readIndex },
      keysMax: limit + layered.size,
    });
    const merged = new Map<string, BufferEntry>();
    for (const kv of stored) {
      const key = kv.key.subarray(this.#keys.state.length);
      if (inRange(key)) merged.set(nameOf(key), { key, value: kv.value });
    }
    for (const [name, entry] of layered) merged.set(name, entry);
    const entries: StateEntry[] = [];
    for (const entry of merged.values()) {
      if (entry.value !== null) entries.push({ key: entry.key, value: entry.value });
    }
    entries.sort((a, b) => compareBytes(a.key, b.key));
    return entries.slice(0, limit);
  }

  /** commitRecord moves the record's writes into the buffer (process() succeeded). */
  commitRecord(): void {
    this.record.mergeInto(this.buffer);
  }

  /** abortRecord drops the record's writes (process() threw). */
  abortRecord(): void {
    this.record = new WriteBuffer();
  }

  /** freeze swaps in a fresh buffer and returns the old one (a checkpoint is cut). */
  freeze(): WriteBuffer {
    const frozen = this.buffer;
    this.frozen = frozen;
    this.buffer = new WriteBuffer();
    return frozen;
  }

  /** committed records that the frozen writes are in the store at `index`. */
  committed(index: number): void {
    const frozen = this.frozen;
    this.frozen = null;
    this.readIndex = Math.max(this.readIndex, index);
    if (frozen === null) return;
    for (const [name, entry] of frozen.entries) this.#remember(name, entry.value);
  }

  /** cacheSize is the number of cached committed values. */
  get cacheSize(): number {
    return this.#cache.size;
  }

  /** #selection is the store selection of a state range. */
  #selection(options: StateRangeOptions) {
    const base = this.#keys.state;
    if (options.prefix !== undefined) return { prefix: concat(base, toBytes(options.prefix)) };
    if (options.start === undefined && options.end === undefined) return { prefix: base };
    const start = concat(
      base,
      options.start === undefined ? new Uint8Array(0) : toBytes(options.start),
    );
    const end =
      options.end === undefined ? successorOfPrefix(base)! : concat(base, toBytes(options.end));
    return { start, end };
  }

  #buffered(name: string): BufferEntry | undefined {
    return (
      this.record.entries.get(name) ??
      this.buffer.entries.get(name) ??
      this.frozen?.entries.get(name)
    );
  }

  #remember(name: string, value: Uint8Array | null): void {
    this.#cache.delete(name);
    this.#cache.set(name, value);
    if (this.#cache.size <= this.#cacheMax) return;
    // Evict the oldest tenth (Map order is insertion order; a re-set moves a key last).
    let evict = Math.ceil(this.#cacheMax / 10);
    for (const oldest of this.#cache.keys()) {
      if (evict-- <= 0) break;
      this.#cache.delete(oldest);
    }
  }
}

/** rangePredicate returns a test for the keys a range selects. */
function rangePredicate(options: StateRangeOptions): (key: Uint8Array) => boolean {
  if (options.prefix !== undefined) {
    const prefix = toBytes(options.prefix);
    return (key) =>
      key.length >= prefix.length && compareBytes(key.subarray(0, prefix.length), prefix) === 0;
  }
  const start = options.start === undefined ? null : toBytes(options.start);
  const end = options.end === undefined ? null : toBytes(options.end);
  return (key) =>
    (start === null || compareBytes(key, start) >= 0) &&
    (end === null || compareBytes(key, end) < 0);
}
