/**
 * Proves that routing keys follow Redis Cluster's hash-tag rule and that slots are Redis's
 * CRC16: a table of the edge cases from the Redis documentation, a property test against a
 * transcription of Redis's keyHashSlot loop, and CRC vectors from redis.io. Also proves a
 * string key and its UTF-8 bytes route alike, lone surrogates included.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { crc16Bytes, crc16String } from './crc16.js';
import { hashSlot } from './group-ring.js';
import { routingKey } from './hash-tag.js';

const utf8 = new TextEncoder();

/** redisRoutingKey transcribes keyHashSlot() from Redis's cluster.c, as the reference. */
function redisRoutingKey(key: Uint8Array): Uint8Array {
  let s = 0;
  for (; s < key.length; s++) if (key[s] === 0x7b) break;
  if (s === key.length) return key;
  let e = s + 1;
  for (; e < key.length; e++) if (key[e] === 0x7d) break;
  if (e === key.length || e === s + 1) return key;
  return key.subarray(s + 1, e);
}

/** A character generator that favours braces, with lone surrogates and astral code points. */
const keyChar = fc.oneof(
  { arbitrary: fc.constantFrom('{', '}', 'a', '/'), weight: 6 },
  { arbitrary: fc.nat(0xffff).map((code) => String.fromCharCode(code)), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), weight: 2 },
);
const anyKey = fc.string({ unit: keyChar, maxLength: 24 });

describe('routingKey', () => {
  const cases: [key: string, routing: string][] = [
    ['', ''],
    ['plain', 'plain'],
    ['{}', '{}'],
    ['{}{x}', '{}{x}'],
    ['foo{}{bar}', 'foo{}{bar}'],
    ['a{b}c{d}', 'b'],
    ['foo{bar}{zap}', 'bar'],
    ['foo{{bar}}zap', '{bar'],
    ['{user1000}.following', 'user1000'],
    ['no{closing', 'no{closing'],
    ['no}opening{', 'no}opening{'],
    ['}{x}', 'x'],
    ['{', '{'],
    ['}', '}'],
    ['{task:t1}/meta', 'task:t1'],
    ['{ü}', 'ü'],
  ];
  for (const [key, expected] of cases) {
    test(`${JSON.stringify(key)} routes by ${JSON.stringify(expected)}`, () => {
      assert.equal(routingKey(key), expected);
      assert.deepEqual(routingKey(utf8.encode(key)), utf8.encode(expected));
    });
  }

  test('matches Redis keyHashSlot on bytes', () => {
    const bytes = fc
      .uint8Array({ maxLength: 24 })
      .chain((noise) =>
        fc
          .array(fc.constantFrom(0x7b, 0x7d, 0x61), { maxLength: 12 })
          .map((braces) => Uint8Array.from([...noise.subarray(0, 4), ...braces, ...noise])),
      );
    fc.assert(
      fc.property(bytes, (key) => {
        assert.deepEqual(routingKey(key), redisRoutingKey(key));
      }),
    );
  });

  test('a string and its UTF-8 bytes have the same routing key and slot', () => {
    fc.assert(
      fc.property(anyKey, (key) => {
        assert.deepEqual(utf8.encode(routingKey(key)), routingKey(utf8.encode(key)));
        assert.equal(hashSlot(key), hashSlot(utf8.encode(key)));
      }),
    );
  });

  test('returns a view of the bytes, not a copy', () => {
    const key = utf8.encode('{tag}rest');
    const routing = routingKey(key);
    assert.equal(routing.buffer, key.buffer);
    assert.equal(routing.byteOffset, 1);
  });
});

describe('crc16 and hashSlot', () => {
  test('CRC-16/XMODEM check value', () => {
    assert.equal(crc16Bytes(utf8.encode('123456789')), 0x31c3);
    assert.equal(crc16String('123456789'), 0x31c3);
    assert.equal(crc16Bytes(new Uint8Array(0)), 0);
  });

  test('low 14 bits are CLUSTER KEYSLOT (redis.io and dragonflydb.io examples)', () => {
    assert.equal(hashSlot('somekey') & 16383, 11058);
    assert.equal(hashSlot('foo{hash_tag}') & 16383, 2515);
    assert.equal(hashSlot('bar{hash_tag}') & 16383, 2515);
    assert.equal(hashSlot('{user1}.following') & 16383, 8106);
  });

  test('crc16String equals crc16Bytes of the UTF-8 encoding, lone surrogates included', () => {
    fc.assert(
      fc.property(anyKey, (text) => {
        assert.equal(crc16String(text), crc16Bytes(utf8.encode(text)));
      }),
    );
  });
});
