/**
 * Tests of NumberReader (wire-numbers.ts): over random uint64 values written by protobufjs's
 * own Writer, it reads every value up to 2^53 - 1 exactly and every larger one as its two
 * words (which uint64ToSafeNumber refuses with the exact value, as it refused the Long); bytes
 * that end inside a varint, or a varint over 10 bytes, throw.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import protobuf from 'protobufjs/minimal.js';
import { WireFormatError } from './wire-codec-reader.js';
import { NumberReader, uint64ToSafeNumber, type WireLong } from './wire-numbers.js';

function encoded(value: bigint): Uint8Array {
  return protobuf.Writer.create().uint64(value.toString()).finish();
}

describe('NumberReader', () => {
  it('reads safe uint64 values exactly and larger ones as their words, refused', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (value) => {
        const bytes = encoded(value);
        const reader = new NumberReader(bytes);
        const read = reader.uint64() as unknown as number | WireLong;
        assert.equal(reader.pos, bytes.length);
        if (value <= BigInt(Number.MAX_SAFE_INTEGER)) {
          assert.equal(read, Number(value));
          assert.equal(uint64ToSafeNumber(read), Number(value));
        } else {
          assert.ok(typeof read === 'object', `${value} read as ${read}`);
          const words = (BigInt(read.high >>> 0) << 32n) | BigInt(read.low >>> 0);
          assert.equal(words, value);
          assert.equal(uint64ToSafeNumber(read), `${value} exceeds 2^53 - 1`);
        }
      }),
    );
  });

  it('reads the edges 0, 2^53 - 1 and 2^53', () => {
    assert.equal(new NumberReader(encoded(0n)).uint64(), 0);
    const max = BigInt(Number.MAX_SAFE_INTEGER);
    assert.equal(new NumberReader(encoded(max)).uint64(), Number.MAX_SAFE_INTEGER);
    assert.equal(typeof uint64ToSafeNumber(new NumberReader(encoded(max + 1n)).uint64()), 'string');
  });

  it('throws on a varint cut short and on one over 10 bytes', () => {
    const cut = encoded(2n ** 40n).subarray(0, 3);
    assert.throws(() => new NumberReader(cut).uint64(), WireFormatError);
    const long = new Uint8Array(11).fill(0x80);
    assert.throws(() => new NumberReader(long).uint64(), /longer than 10 bytes/);
  });
});
