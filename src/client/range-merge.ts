/**
 * RangeMerger reads a key range spread over many groups in key order. Each group is a cursor
 * over its own pages (each page is sorted; `more` and a page token lead to the next); the
 * merger always yields the smallest head among the cursors (a binary heap), fetching a group's
 * next page only when that group's buffered page ran out and it has more. So a scan of N keys
 * fetches about N / pageLimit pages per group it touches, never the whole keyspace.
 * Pure: groups are read through the PageReader functions it is given.
 */
import type { KeyValue } from '../store/kv-types.js';
import { compareBytes } from './keys.js';

/** Page is one answer of a group's range read. */
export interface Page {
  kvs: KeyValue[];
  more: boolean;
  nextPageToken: Uint8Array;
}

/** PageReader reads one page of one group: at most `limit` keys from `pageToken` on. */
export type PageReader = (pageToken: Uint8Array | null, limit: number) => Promise<Page>;

/** Cursor is one group's position. Invariant: at < kvs.length while it is in the heap. */
interface Cursor {
  read: PageReader;
  kvs: KeyValue[];
  at: number;
  more: boolean;
  token: Uint8Array | null;
}

/** RangeMerger yields the keys of many groups in order. */
export class RangeMerger {
  readonly #pageLimit: number;
  readonly #heap: Cursor[] = [];
  /** unread are the cursors waiting for their next page (at first: all, read together). */
  #unread: Cursor[];
  /** pagesRead counts the pages fetched (tests check laziness with it). */
  pagesRead = 0;

  constructor(readers: readonly PageReader[], pageLimit: number) {
    if (!Number.isSafeInteger(pageLimit) || pageLimit < 1) {
      throw new RangeError(`pageLimit must be a positive integer, got ${pageLimit}`);
    }
    this.#pageLimit = pageLimit;
    this.#unread = readers.map((read) => ({ read, kvs: [], at: 0, more: true, token: null }));
  }

  /** next returns the next key in order, or null when every group is exhausted. */
  async next(): Promise<KeyValue | null> {
    if (this.#unread.length > 0) await this.#readPages();
    const top = this.#heap[0];
    if (!top) return null;
    const kv = top.kvs[top.at]!;
    top.at++;
    if (top.at < top.kvs.length) this.#siftDown(0);
    else {
      this.#pop();
      // Its next page is read when a key is next needed, not now: `take` may be done.
      if (top.more) this.#unread.push(top);
    }
    return kv;
  }

  /** hasMore says whether keys may remain (buffered, or a group announced more). */
  hasMore(): boolean {
    return this.#unread.length > 0 || this.#heap.length > 0;
  }

  /** take returns up to `limit` keys in order, and whether more remain. */
  async take(limit: number): Promise<{ kvs: KeyValue[]; more: boolean }> {
    const kvs: KeyValue[] = [];
    while (kvs.length < limit) {
      const kv = await this.next();
      if (kv === null) break;
      kvs.push(kv);
    }
    return { kvs, more: this.hasMore() };
  }

  /** #readPages reads the next page of every cursor waiting for one, together. */
  async #readPages(): Promise<void> {
    const cursors = this.#unread;
    this.#unread = [];
    await Promise.all(cursors.map((cursor) => this.#refill(cursor)));
  }

  /** #refill reads a cursor's next page and puts it back in the heap if it has keys. */
  async #refill(cursor: Cursor): Promise<void> {
    // A group may answer an empty page with more set (a byte limit): read on, boundedly.
    for (let round = 0; round < 1_000 && cursor.more; round++) {
      const page = await cursor.read(cursor.token, this.#pageLimit);
      this.pagesRead++;
      cursor.kvs = page.kvs;
      cursor.at = 0;
      cursor.more = page.more && page.nextPageToken.length > 0;
      cursor.token = page.nextPageToken;
      if (page.kvs.length > 0) {
        this.#push(cursor);
        return;
      }
    }
  }

  #less(a: Cursor, b: Cursor): boolean {
    return compareBytes(a.kvs[a.at]!.key, b.kvs[b.at]!.key) < 0;
  }

  #push(cursor: Cursor): void {
    const heap = this.#heap;
    heap.push(cursor);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    this.#siftDown(0);
  }

  #siftDown(start: number): void {
    const heap = this.#heap;
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && this.#less(heap[left]!, heap[smallest]!)) smallest = left;
      if (right < heap.length && this.#less(heap[right]!, heap[smallest]!)) smallest = right;
      if (smallest === i) return;
      [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
      i = smallest;
    }
  }
}
