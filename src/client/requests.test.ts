// Proves the client checks requests before sending: limits fail with the limit named, a txn
// whose keys map to different groups fails with a message naming both keys and groups, hash
// tags keep prefixes and ranges in one group (tagScope), and selections and consistencies
// translate to the wire forms the store expects.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GroupRing } from '../ring/index.js';
import { ReadConsistency } from '../store/kv-types.js';
import { InvalidArgumentError } from './errors.js';
import { tagScope, toBytes } from './keys.js';
import { consistencyOf, putRequest, selectionOf, txnGroupOf, txnRequest } from './requests.js';

const ring = new GroupRing(64);
const groupOf = (key: Uint8Array): number => ring.groupOf(key);
const bytes = (text: string): Uint8Array => toBytes(text);

describe('requests', () => {
  it('refuses a key over keyBytesMax before sending, naming the limit', () => {
    assert.throws(
      () => putRequest('k'.repeat(4097), 'v'),
      (error: unknown) =>
        error instanceof InvalidArgumentError &&
        error.limit === 'keyBytesMax' &&
        /4097, above the limit keyBytesMax = 4096/.test(error.message),
    );
    assert.throws(() => putRequest('', 'v'), /key is empty/);
  });

  it('refuses a txn across groups, naming keys and groups', () => {
    const request = txnRequest(
      [{ key: 'alpha', value: '1' }],
      [{ put: { key: 'beta', value: '2' } }],
      [],
    );
    assert.notEqual(ring.groupOf('alpha'), ring.groupOf('beta'));
    assert.throws(
      () => txnGroupOf(request, groupOf),
      new RegExp(
        'txn: keys span groups: "alpha" is in group \\d+, "beta" in group \\d+; ' +
          "keep a txn's keys under one \\{hash tag\\}",
      ),
    );
  });

  it('accepts a txn under one hash tag, including a tagged prefix range', () => {
    const request = txnRequest(
      [{ key: '{task:1}/meta', exists: false, result: 'equal' }],
      [{ put: { key: '{task:1}/a', value: '1' } }, { range: { prefix: '{task:1}/' } }],
      [{ get: { key: '{task:1}/meta' } }],
    );
    assert.equal(txnGroupOf(request, groupOf), ring.groupOf('task:1'));
    const untagged = txnRequest([], [{ range: { prefix: 'task' } }], []);
    assert.throws(() => txnGroupOf(untagged, groupOf), /may span groups/);
    assert.throws(() => txnGroupOf(txnRequest([], [], []), groupOf), /no keys/);
  });

  it('finds the one group of tagged selections only', () => {
    const scope = (options: Parameters<typeof selectionOf>[0]) => {
      const found = tagScope(selectionOf(options));
      return found === null ? null : Buffer.from(found).toString();
    };
    assert.equal(scope({ prefix: '{t}/x' }), '{t}/x');
    assert.equal(scope({ prefix: '{t' }), null, 'an incomplete tag fixes nothing');
    assert.equal(scope({ prefix: '{}a' }), null, 'an empty tag is no tag');
    assert.equal(scope({ start: '{t}a', end: '{t}z' }), '{t}');
    assert.equal(scope({ start: '{t}a', end: '{u}z' }), null);
    assert.equal(scope({ start: '{t}a' }), null, 'to the end of the keyspace');
    assert.equal(scope({}), null, 'every key');
  });

  it('translates selections and consistencies', () => {
    const plain = (s: { key: Uint8Array; rangeEnd: Uint8Array; prefix: boolean }) => ({
      key: [...s.key],
      rangeEnd: [...s.rangeEnd],
      prefix: s.prefix,
    });
    assert.deepEqual(plain(selectionOf({})), { key: [], rangeEnd: [], prefix: true });
    assert.deepEqual(plain(selectionOf({ start: 'a' })), {
      key: [...bytes('a')],
      rangeEnd: [0],
      prefix: false,
    });
    assert.throws(() => selectionOf({ prefix: 'a', end: 'b' }), /either prefix or start\/end/);
    assert.deepEqual(consistencyOf({ atIndex: 9 }), {
      consistency: ReadConsistency.AtIndex,
      minIndex: 9,
    });
    assert.equal(consistencyOf('serializable').consistency, ReadConsistency.Serializable);
    assert.throws(() => consistencyOf({ atIndex: -1 }), /atIndex must be an index >= 0, got -1/);
  });
});
