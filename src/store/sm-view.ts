/**
 * Reading one group's user data: straight from LevelDB (client reads), or through an Overlay of
 * writes not yet committed to LevelDB (while a batch of entries is applied, so a command sees the
 * effects of the commands before it in the same batch, and a txn op those of the ops before it).
 *
 * Overlays stack: the batch's overlay holds the batch's writes, and each command runs in a child
 * overlay that is merged into the batch's only if the command succeeds, so a failed command
 * leaves nothing behind. Scans merge the overlays' keys with a LevelDB iterator in key order.
 */
import type { ClassicLevel } from 'classic-level';
import { assert } from '../raft/errors.js';
import type { GroupId } from '../raft/types.js';
import {
  GROUP_PREFIX_BYTES,
  TAG_DATA,
  dataKey,
  decodeDataValue,
  groupRange,
  plainView,
  type StoredValue,
} from './sm-records.js';

/** Db is the LevelDB handle type of the state machine (keys and values as Uint8Arrays). */
export type Db = ClassicLevel<Uint8Array, Uint8Array>;

/** OverlayEntry is a write held in an overlay: the new record, or null for a delete. */
interface OverlayEntry {
  key: Uint8Array;
  stored: StoredValue | null;
}

/** ScanItem is one live key met by a scan, with its record (null when values were not read). */
export interface ScanItem {
  key: Uint8Array;
  stored: StoredValue | null;
}

/** SCAN_BATCH_KEYS is how many keys a scan takes from LevelDB per nextv() call. */
const SCAN_BATCH_KEYS = 256;

/** mapKey turns bytes into a Map key: latin1 maps each byte to one char, so it is bijective. */
export function mapKey(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

/** compareBytes orders byte strings as LevelDB does (bytewise, shorter first on a tie). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/** Overlay holds writes to one group's user keys not yet in LevelDB; it may have a parent. */
export class Overlay {
  private readonly writes = new Map<string, OverlayEntry>();
  /** parent is the overlay this one shadows (null: LevelDB is below). */
  readonly parent: Overlay | null;

  constructor(parent: Overlay | null) {
    this.parent = parent;
  }

  /** lookup returns the overlays' write of `key`: a record, null (deleted) or undefined. */
  lookup(key: Uint8Array): StoredValue | null | undefined {
    return this.lookupName(mapKey(key));
  }

  /** lookupName is lookup by the key's mapKey (for callers that already computed it). */
  lookupName(name: string): StoredValue | null | undefined {
    // Walk the parents directly (no array): this runs once per key a command touches.
    const own = this.writes.get(name);
    if (own !== undefined) return own.stored;
    for (let overlay = this.parent; overlay !== null; overlay = overlay.parent) {
      const entry = overlay.writes.get(name);
      if (entry !== undefined) return entry.stored;
    }
    return undefined;
  }

  /** chain lists this overlay and its ancestors, nearest first. */
  private chain(): Overlay[] {
    const chain: Overlay[] = [this];
    for (let parent = this.parent; parent !== null; parent = parent.parent) chain.push(parent);
    return chain;
  }

  /** set records a write (null deletes) of `key` (`name`: its mapKey, if already computed). */
  set(key: Uint8Array, stored: StoredValue | null, name: string = mapKey(key)): void {
    this.writes.set(name, { key, stored });
  }

  /** mergeIntoParent moves this overlay's writes into its parent (the command succeeded). */
  mergeIntoParent(): void {
    const parent = this.parent;
    assert(parent !== null, 'mergeIntoParent on a root overlay');
    for (const [name, entry] of this.writes) parent.writes.set(name, entry);
    this.writes.clear();
  }

  /** entries returns this overlay's own writes (for building the LevelDB batch). */
  entries(): IterableIterator<OverlayEntry> {
    return this.writes.values();
  }

  /** size is the number of keys this overlay itself writes. */
  get size(): number {
    return this.writes.size;
  }

  /** inRange returns the overlays' writes in [start, end) (end null: no bound), sorted. */
  inRange(start: Uint8Array, end: Uint8Array | null): OverlayEntry[] {
    const merged = new Map<string, OverlayEntry>();
    // Parents first, so that a child's write replaces its parent's. (A scan of every write:
    // overlays hold one batch of entries, so this stays small.)
    const chain = this.chain();
    for (let i = chain.length - 1; i >= 0; i--) {
      for (const [name, entry] of chain[i].writes) {
        if (compareBytes(entry.key, start) < 0) continue;
        if (end !== null && compareBytes(entry.key, end) >= 0) continue;
        merged.set(name, entry);
      }
    }
    return [...merged.values()].sort((a, b) => compareBytes(a.key, b.key));
  }
}

/** GroupView reads one group's user data through an optional overlay. */
export class GroupView {
  readonly db: Db;
  readonly group: GroupId;
  /** overlay holds uncommitted writes read before LevelDB; null for committed state only. */
  readonly overlay: Overlay | null;

  constructor(
    db: Db,
    group: GroupId,
    overlay: Overlay | null,
    prefetched: Map<string, StoredValue | null> | null = null,
    readKey: ((dbKey: Uint8Array) => Promise<Uint8Array | undefined>) | null = null,
  ) {
    this.db = db;
    this.group = group;
    this.overlay = overlay;
    this.#prefetched = prefetched;
    this.#readKey = readKey;
  }

  /** readKey reads one committed record (a coalescing reader, or LevelDB's get). */
  readonly #readKey: ((dbKey: Uint8Array) => Promise<Uint8Array | undefined>) | null;

  /**
   * prefetched holds committed records read ahead by prefetch(). Valid for the view's life:
   * LevelDB does not change under an apply (its writes land in one batch at the end), and the
   * overlay, read first, holds every write made since.
   */
  #prefetched: Map<string, StoredValue | null> | null;

  /**
   * prefetch reads the committed records of `keys` in one LevelDB call (getMany), so that the
   * get()s of a large command (a checkpoint of thousands of keys) do not wait one by one.
   */
  async prefetch(keys: readonly Uint8Array[]): Promise<void> {
    // Each key's mapKey is computed once, and its error context only on an error: at
    // checkpoint sizes (thousands of keys) both showed in the profile.
    const missing: Uint8Array[] = [];
    const names: string[] = [];
    for (const key of keys) {
      const name = mapKey(key);
      if (this.overlay?.lookupName(name) !== undefined) continue;
      missing.push(key);
      names.push(name);
    }
    if (missing.length === 0) return;
    const values = await this.db.getMany(missing.map((key) => dataKey(this.group, key)));
    const prefetched = (this.#prefetched ??= new Map());
    for (let i = 0; i < missing.length; i++) {
      const bytes = values[i];
      prefetched.set(names[i], bytes == null ? null : this.decode(missing[i], bytes));
    }
  }

  /**
   * peek returns the record of `key` when it is at hand (written in the overlays, or
   * prefetched), null if it is known to be absent, and undefined when only LevelDB knows.
   */
  peek(key: Uint8Array, name: string = mapKey(key)): StoredValue | null | undefined {
    const written = this.overlay?.lookupName(name);
    if (written !== undefined) return written;
    return this.#prefetched?.get(name);
  }

  /** get returns the record of `key`, or null if absent. */
  async get(key: Uint8Array, name: string = mapKey(key)): Promise<StoredValue | null> {
    const written = this.overlay?.lookupName(name);
    if (written !== undefined) return written;
    const prefetched = this.#prefetched?.get(name);
    if (prefetched !== undefined) return prefetched;
    const dbKey = dataKey(this.group, key);
    const bytes = this.#readKey ? await this.#readKey(dbKey) : await this.db.get(dbKey);
    if (bytes === undefined) return null;
    return decodeDataValue(key, bytes, this.where(key));
  }

  /**
   * scan yields the live keys in [start, end) (end null: to the group's last key) in key order,
   * with their records if `values`. Stopping early (break) closes the LevelDB iterator.
   */
  async *scan(
    start: Uint8Array,
    end: Uint8Array | null,
    values: boolean,
  ): AsyncGenerator<ScanItem> {
    const pending = this.overlay === null ? [] : this.overlay.inRange(start, end);
    let next = 0;
    const bounds = {
      gte: dataKey(this.group, start),
      lt: end === null ? groupRange(TAG_DATA, this.group).lt : dataKey(this.group, end),
    };
    const iterator = this.db.iterator({ ...bounds, values });
    try {
      for (;;) {
        const batch = await iterator.nextv(SCAN_BATCH_KEYS);
        if (batch.length === 0) break;
        for (const [dbKey, bytes] of batch) {
          const key = plainView(dbKey, GROUP_PREFIX_BYTES);
          for (; next < pending.length && compareBytes(pending[next].key, key) <= 0; next++) {
            const entry = pending[next];
            if (entry.stored !== null) yield { key: entry.key, stored: entry.stored };
          }
          // The overlay's write of this very key (if any) was yielded (or skipped) just above.
          if (next > 0 && compareBytes(pending[next - 1].key, key) === 0) continue;
          const stored = values ? decodeDataValue(key, bytes, this.where(key)) : null;
          yield { key, stored };
        }
      }
    } finally {
      await iterator.close();
    }
    for (; next < pending.length; next++) {
      const entry = pending[next];
      if (entry.stored !== null) yield { key: entry.key, stored: entry.stored };
    }
  }

  /** decode decodes a record, naming the key and database only if it is damaged. */
  private decode(key: Uint8Array, bytes: Uint8Array): StoredValue {
    try {
      return decodeDataValue(key, bytes, '');
    } catch {
      return decodeDataValue(key, bytes, this.where(key)); // throws again, with the context
    }
  }

  private where(key: Uint8Array): string {
    return `state machine ${this.db.location} group ${this.group} key ${hexPreview(key)}`;
  }
}

/** hexPreview shows at most the first 32 bytes of a key in hex (for error messages). */
export function hexPreview(key: Uint8Array): string {
  const hex = Buffer.from(key.subarray(0, 32)).toString('hex');
  return key.length > 32 ? `${hex}...(${key.length} bytes)` : hex;
}
