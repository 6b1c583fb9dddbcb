import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { checkHistorySync, checkKeySync, groupByKey, pairHistory } from './index.js';
import type { HistoryEvent, Operation, Value } from './index.js';
import { bruteForceLinearizable, simulateHistory, type SimOptions } from './testgen.js';

const simOptions = (maxOps: number, maxKeys: number): fc.Arbitrary<SimOptions> =>
  fc.record({
    seed: fc.integer(),
    ops: fc.integer({ min: 1, max: maxOps }),
    processes: fc.integer({ min: 1, max: 5 }),
    keys: fc.integer({ min: 1, max: maxKeys }),
    infoRate: fc.constantFrom(0, 0.05, 0.2),
    crashRate: fc.constantFrom(0, 0.02, 0.1),
  });

/** Returns a copy of `events` where the ok completion of `op` reports `value`. */
function withReadValue(events: HistoryEvent[], op: Operation, value: Value): HistoryEvent[] {
  const copy = events.slice();
  const seq = op.completeSeq as number; // simulated histories: seq === array index
  copy[seq] = { ...copy[seq], value };
  return copy;
}

/**
 * Values that a read invoked after `read` cannot see: any value (or the initial null) produced by
 * an ok op that completed before some ok *write* W was invoked, where W completed before the read
 * was invoked. Simulated values are unique and never null, so each has exactly one producer.
 */
function provablyStaleValues(ops: readonly Operation[], read: Operation): Value[] {
  const ret = (o: Operation): number => o.completeSeq ?? Infinity;
  const writes = ops.filter((o) => o.f === 'write' && o.status === 'ok' && ret(o) < read.invokeSeq);
  if (writes.length === 0) return [];
  const latestInvoke = Math.max(...writes.map((w) => w.invokeSeq));
  const stale: Value[] = [null];
  for (const o of ops) {
    if (o.status !== 'ok' || ret(o) >= latestInvoke) continue;
    if (o.f === 'write') stale.push(o.input as Value);
    if (o.f === 'cas') stale.push((o.input as [Value, Value])[1]);
  }
  return stale;
}

describe('property: simulated atomic registers', () => {
  it('are always linearizable', () => {
    fc.assert(
      fc.property(simOptions(40, 3), (o) => {
        const r = checkHistorySync(simulateHistory(o));
        assert.equal(r.valid, true, JSON.stringify(r.anomalies));
      }),
      { numRuns: 200 },
    );
  });

  it('become invalid when a read returns a value never written', () => {
    fc.assert(
      fc.property(simOptions(40, 3), fc.nat(), (o, pick) => {
        const events = simulateHistory(o);
        const reads = pairHistory(events).ops.filter((op) => op.f === 'read');
        if (reads.length === 0) return;
        const mutated = withReadValue(events, reads[pick % reads.length], 'never-written');
        assert.equal(checkHistorySync(mutated).valid, false);
      }),
      { numRuns: 200 },
    );
  });

  it('become invalid when a read returns a provably stale value', () => {
    let mutatedRuns = 0;
    fc.assert(
      fc.property(simOptions(40, 2), fc.nat(), fc.nat(), (o, pickRead, pickValue) => {
        const events = simulateHistory({ ...o, processes: Math.max(2, o.processes) });
        const ops = pairHistory(events).ops;
        const reads = ops.filter((op) => op.f === 'read');
        if (reads.length === 0) return;
        const read = reads[pickRead % reads.length];
        const stale = provablyStaleValues(groupByKey(ops).get(read.key) ?? [], read);
        if (stale.length === 0) return;
        mutatedRuns++;
        const value = stale[pickValue % stale.length];
        const r = checkHistorySync(withReadValue(events, read, value));
        assert.equal(r.valid, false, `read mutated to stale ${JSON.stringify(value)}`);
      }),
      { numRuns: 200 },
    );
    assert.ok(mutatedRuns > 20, `only ${mutatedRuns} runs had a provably stale read`);
  });

  it('agree with a brute-force checker on tiny, randomly corrupted histories', () => {
    let invalid = 0;
    fc.assert(
      fc.property(simOptions(7, 1), fc.nat(), fc.nat(), (o, pickRead, pickValue) => {
        let events = simulateHistory(o);
        const ops = pairHistory(events).ops;
        const reads = ops.filter((op) => op.f === 'read');
        if (reads.length > 0) {
          const written = ops.map((op) => (op.f === 'cas' ? (op.input as Value[])[1] : op.input));
          const values: Value[] = [null, 'zzz', ...(written as Value[])];
          const value = values[pickValue % values.length];
          events = withReadValue(events, reads[pickRead % reads.length], value);
        }
        const mutatedOps = pairHistory(events).ops;
        const expected = bruteForceLinearizable(mutatedOps);
        if (!expected) invalid++;
        assert.equal(checkKeySync(mutatedOps).valid, expected);
      }),
      { numRuns: 300 },
    );
    assert.ok(invalid > 20, `only ${invalid} invalid histories generated`);
  });
});
