// Proves the cross-group range merge: keys spread over many fake groups, each answering in
// small pages, come out as the sorted union; `limit` cuts it with `more` set exactly when keys
// remain; pages are read lazily (a small limit reads about one page per group); empty pages
// with `more` are read through. fast-check generates the groups' keys and page sizes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { KeyValue } from '../store/kv-types.js';
import { compareBytes } from './keys.js';
import { RangeMerger, type Page, type PageReader } from './range-merge.js';

function kv(key: string): KeyValue {
  return {
    key: Buffer.from(key),
    value: Buffer.from(`v:${key}`),
    modIndex: 1,
    createIndex: 1,
    version: 1,
  };
}

/** fakeGroup serves `keys` (sorted here) in pages of at most min(limit, pageMax). */
function fakeGroup(keys: readonly string[], pageMax: number, emptyFirst = false): PageReader {
  const sorted = keys.map(kv).sort((a, b) => compareBytes(a.key, b.key));
  return async (token, limit): Promise<Page> => {
    await Promise.resolve();
    if (emptyFirst && token === null) {
      return { kvs: [], more: true, nextPageToken: Buffer.from('0') };
    }
    const from = token === null ? 0 : Number(Buffer.from(token).toString());
    const to = Math.min(sorted.length, from + Math.min(limit, pageMax));
    const more = to < sorted.length;
    return {
      kvs: sorted.slice(from, to),
      more,
      nextPageToken: more ? Buffer.from(String(to)) : new Uint8Array(),
    };
  };
}

const text = (kvs: readonly KeyValue[]): string[] => kvs.map((k) => Buffer.from(k.key).toString());

describe('RangeMerger', () => {
  it('merges groups in key order', async () => {
    const merger = new RangeMerger(
      [
        fakeGroup(['b', 'e', 'h'], 1),
        fakeGroup(['a', 'f'], 1),
        fakeGroup([], 1),
        fakeGroup(['c', 'd', 'g'], 2),
      ],
      10,
    );
    const result = await merger.take(100);
    assert.deepEqual(text(result.kvs), ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']);
    assert.equal(result.more, false);
  });

  it('stops at the limit and says more remain', async () => {
    const merger = new RangeMerger([fakeGroup(['a', 'c'], 5), fakeGroup(['b', 'd'], 5)], 3);
    const result = await merger.take(3);
    assert.deepEqual(text(result.kvs), ['a', 'b', 'c']);
    assert.equal(result.more, true);
  });

  it('reads lazily: a limit of 2 over 64 groups reads one page per group', async () => {
    const groups = Array.from({ length: 64 }, (_, g) =>
      fakeGroup(
        Array.from({ length: 50 }, (_, i) => `g${String(g).padStart(2, '0')}-${i}`),
        100,
      ),
    );
    const merger = new RangeMerger(groups, 2);
    const result = await merger.take(2);
    assert.equal(result.kvs.length, 2);
    assert.equal(merger.pagesRead, 64);
  });

  it('reads through empty pages that announce more', async () => {
    const merger = new RangeMerger([fakeGroup(['x', 'y'], 1, true)], 10);
    assert.deepEqual(text((await merger.take(10)).kvs), ['x', 'y']);
  });

  it('equals the sorted union for any keys, page sizes and limits', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uniqueArray(fc.string({ maxLength: 4 }), { maxLength: 20 }), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 40 }),
        async (groupKeys, pageMax, limit) => {
          // Keys are unique across groups, as a key lives in exactly one group.
          const seen = new Set<string>();
          const groups = groupKeys.map((keys) => keys.filter((k) => !seen.has(k) && seen.add(k)));
          const all = [...seen].map(kv).sort((a, b) => compareBytes(a.key, b.key));
          const merger = new RangeMerger(
            groups.map((keys) => fakeGroup(keys, pageMax)),
            limit,
          );
          const result = await merger.take(limit);
          assert.deepEqual(text(result.kvs), text(all.slice(0, limit)));
          assert.equal(result.more, all.length > limit);
        },
      ),
      { numRuns: 200 },
    );
  });
});
