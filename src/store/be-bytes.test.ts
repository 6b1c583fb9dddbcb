/**
 * Tests of be-bytes.ts: the byte helpers write and read exactly what a DataView does
 * (big-endian), at any offset, and getU64 refuses values above 2^53 - 1.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { getU32, getU64, putU32, putU64 } from './be-bytes.js';

describe('be-bytes', () => {
  it('u32 and u64 match a DataView at any offset', () => {
    fc.assert(
      fc.property(
        fc.nat(16),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.maxSafeNat(),
        (offset, u32, u64) => {
          const ours = new Uint8Array(offset + 12);
          const theirs = new Uint8Array(offset + 12);
          const view = new DataView(theirs.buffer);
          putU32(ours, offset, u32);
          putU64(ours, offset + 4, u64);
          view.setUint32(offset, u32);
          view.setBigUint64(offset + 4, BigInt(u64));
          assert.deepEqual(ours, theirs);
          assert.equal(getU32(theirs, offset), u32);
          assert.equal(getU64(theirs, offset + 4), u64);
        },
      ),
    );
  });

  it('getU64 returns -1 above 2^53 - 1 and reads the edges exactly', () => {
    const bytes = new Uint8Array(8);
    const view = new DataView(bytes.buffer);
    view.setBigUint64(0, 2n ** 53n - 1n);
    assert.equal(getU64(bytes, 0), Number.MAX_SAFE_INTEGER);
    view.setBigUint64(0, 2n ** 53n);
    assert.equal(getU64(bytes, 0), -1);
    view.setBigUint64(0, 2n ** 64n - 1n);
    assert.equal(getU64(bytes, 0), -1);
    view.setBigUint64(0, 0n);
    assert.equal(getU64(bytes, 0), 0);
  });
});
