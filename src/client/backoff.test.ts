// Proves the back-off's bounds: the n-th wait is in [0, min(cap, base * 2^n)), the bound
// doubles from the base up to the cap and stays there, reset starts over, and bad options are
// refused with the value named. fast-check varies attempts, bounds and the random source.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Backoff, backoffBoundMs } from './backoff.js';

describe('Backoff', () => {
  it('doubles its bound from 10 ms to 500 ms by default', () => {
    const bounds = Array.from({ length: 9 }, (_, n) => backoffBoundMs(n, 10, 500));
    assert.deepEqual(bounds, [10, 20, 40, 80, 160, 320, 500, 500, 500]);
    assert.equal(backoffBoundMs(10_000, 10, 500), 500, 'huge attempts do not overflow');
  });

  it('draws each wait uniformly below the bound (full jitter)', () => {
    const top = new Backoff({ random: () => 0.999_999 });
    assert.deepEqual(
      Array.from({ length: 8 }, () => top.nextMs()),
      [9, 19, 39, 79, 159, 319, 499, 499],
    );
    const bottom = new Backoff({ random: () => 0 });
    assert.deepEqual([bottom.nextMs(), bottom.nextMs()], [0, 0]);
  });

  it('starts over after reset', () => {
    const backoff = new Backoff({ random: () => 0.5 });
    backoff.nextMs();
    backoff.nextMs();
    backoff.reset();
    assert.equal(backoff.nextMs(), 5);
  });

  it('keeps every wait in [0, min(cap, base * 2^n))', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), {
          minLength: 1,
          maxLength: 60,
        }),
        (baseMs, extra, randoms) => {
          const capMs = baseMs + extra;
          let i = 0;
          const backoff = new Backoff({
            baseMs,
            capMs,
            random: () => randoms[i % randoms.length]!,
          });
          for (i = 0; i < randoms.length; i++) {
            const wait = backoff.nextMs();
            const bound = Math.min(capMs, baseMs * 2 ** i);
            assert.ok(wait >= 0 && wait < bound, `wait ${wait} at ${i}, bound ${bound}`);
          }
        },
      ),
    );
  });

  it('refuses bad options with the value', () => {
    assert.throws(() => new Backoff({ baseMs: 0 }), /baseMs must be a positive number, got 0/);
    assert.throws(() => new Backoff({ baseMs: 10, capMs: 5 }), /capMs .* got 5/);
  });
});
