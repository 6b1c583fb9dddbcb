import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkHistory,
  checkHistorySync,
  checkKeySync,
  formatResult,
  HistoryError,
  pairHistory,
  parseHistory,
  type CasArgs,
  type EventType,
  type HistoryEvent,
  type OpFunction,
  type Value,
} from './index.js';
import { mergeHistories, simulateHistory } from './testgen.js';

/** Builds a history from compact tuples; time = array index. */
function hist(
  ...rows: [number, EventType, OpFunction, (Value | CasArgs)?, string?][]
): HistoryEvent[] {
  return rows.map(([process, type, f, value, key], time) => ({
    process,
    type,
    f,
    key: key ?? 'x',
    value: value === undefined ? null : value,
    time,
  }));
}

function verdict(events: HistoryEvent[]): boolean | 'unknown' {
  return checkHistorySync(events).valid;
}

describe('hand-written histories: reads and writes', () => {
  it('accepts a sequential write then read', () => {
    assert.equal(
      verdict(
        hist(
          [1, 'invoke', 'write', 'a'],
          [1, 'ok', 'write', 'a'],
          [2, 'invoke', 'read'],
          [2, 'ok', 'read', 'a'],
        ),
      ),
      true,
    );
  });

  it('rejects a stale read after a completed write, with a prefix and stuck ops', () => {
    const r = checkHistorySync(
      hist(
        [1, 'invoke', 'write', 1],
        [1, 'ok', 'write', 1],
        [1, 'invoke', 'write', 2],
        [1, 'ok', 'write', 2],
        [2, 'invoke', 'read'],
        [2, 'ok', 'read', 1],
      ),
    );
    assert.equal(r.valid, false);
    const k = r.keys.x;
    assert.equal(k.valid, false);
    assert.deepEqual(
      k.longestLinearizedPrefix?.map((o) => o.input),
      [1, 2],
    );
    assert.equal(k.stateAfterPrefix, 2);
    assert.deepEqual(
      k.stuckOps?.map((o) => [o.f, o.output]),
      [['read', 1]],
    );
    assert.equal(r.anomalies.length, 1);
    assert.match(formatResult(r), /NOT LINEARIZABLE/);
  });
});

describe('hand-written histories: concurrent writes', () => {
  it('accepts reads that see concurrent writes in either order', () => {
    assert.equal(
      verdict(
        hist(
          [1, 'invoke', 'write', 1],
          [2, 'invoke', 'write', 2],
          [3, 'invoke', 'read'],
          [3, 'ok', 'read', 2],
          [4, 'invoke', 'read'],
          [4, 'ok', 'read', 1],
          [1, 'ok', 'write', 1],
          [2, 'ok', 'write', 2],
        ),
      ),
      true,
    );
    assert.equal(
      verdict(
        hist(
          [1, 'invoke', 'write', 1],
          [2, 'invoke', 'write', 2],
          [3, 'invoke', 'read'],
          [3, 'ok', 'read', 1],
          [4, 'invoke', 'read'],
          [4, 'ok', 'read', 2],
          [1, 'ok', 'write', 1],
          [2, 'ok', 'write', 2],
        ),
      ),
      true,
    );
  });

  it('rejects two reads after both concurrent writes that disagree', () => {
    assert.equal(
      verdict(
        hist(
          [1, 'invoke', 'write', 1],
          [2, 'invoke', 'write', 2],
          [1, 'ok', 'write', 1],
          [2, 'ok', 'write', 2],
          [3, 'invoke', 'read'],
          [3, 'ok', 'read', 1],
          [3, 'invoke', 'read'],
          [3, 'ok', 'read', 2],
        ),
      ),
      false,
    );
  });
});

describe('hand-written histories: cas', () => {
  it('accepts a cas chain, ignoring a failed cas', () => {
    assert.equal(
      verdict(
        hist(
          [1, 'invoke', 'write', 0],
          [1, 'ok', 'write', 0],
          [1, 'invoke', 'cas', [0, 1]],
          [1, 'ok', 'cas', [0, 1]],
          [2, 'invoke', 'cas', [1, 2]],
          [2, 'ok', 'cas', [1, 2]],
          [3, 'invoke', 'cas', [1, 3]],
          [3, 'fail', 'cas', [1, 3]],
          [4, 'invoke', 'read'],
          [4, 'ok', 'read', 2],
        ),
      ),
      true,
    );
  });

  it('rejects a cas that succeeds on a value already replaced', () => {
    assert.equal(
      verdict(
        hist(
          [1, 'invoke', 'cas', [null, 'a']],
          [1, 'ok', 'cas', [null, 'a']],
          [2, 'invoke', 'cas', [null, 'b']],
          [2, 'ok', 'cas', [null, 'b']],
        ),
      ),
      false,
    );
  });
});

describe('hand-written histories: indeterminate and failed ops', () => {
  it('accepts an info write that is seen later, but not unseen after that', () => {
    const seen = hist(
      [1, 'invoke', 'write', 'a'],
      [1, 'info', 'write', 'a'],
      [2, 'invoke', 'read'],
      [2, 'ok', 'read', null],
      [2, 'invoke', 'read'],
      [2, 'ok', 'read', 'a'],
    );
    assert.equal(verdict(seen), true);
    const unseen = hist(
      ...seen.map((e): [number, EventType, OpFunction, Value | CasArgs] => [
        e.process,
        e.type,
        e.f,
        e.value,
      ]),
      [2, 'invoke', 'read'],
      [2, 'ok', 'read', null],
    );
    assert.equal(verdict(unseen), false);
  });

  it('accepts an info write that is never seen, and an invoke that never completes', () => {
    assert.equal(
      verdict(
        hist(
          [1, 'invoke', 'write', 'a'],
          [1, 'info', 'write', 'a'],
          [3, 'invoke', 'write', 'b'],
          [2, 'invoke', 'read'],
          [2, 'ok', 'read', null],
          [2, 'invoke', 'read'],
          [2, 'ok', 'read', 'b'],
        ),
      ),
      true,
    );
  });

  it('rejects a read of a value never written, and of a failed write', () => {
    const r = checkHistorySync(hist([1, 'invoke', 'read'], [1, 'ok', 'read', 'ghost']));
    assert.equal(r.valid, false);
    assert.match(r.keys.x.reason ?? '', /ever produced for this key/);
    assert.equal(
      verdict(
        hist(
          [1, 'invoke', 'write', 'a'],
          [1, 'fail', 'write', 'a'],
          [2, 'invoke', 'read'],
          [2, 'ok', 'read', 'a'],
        ),
      ),
      false,
    );
  });
});

describe('hand-written histories: ordering and keys', () => {
  it('resolves equal times by array order', () => {
    const events = hist(
      [1, 'invoke', 'write', 1],
      [1, 'ok', 'write', 1],
      [2, 'invoke', 'read'],
      [2, 'ok', 'read', null],
    ).map((e) => ({ ...e, time: 7 }));
    assert.equal(verdict(events), false);
  });

  it('checks keys independently', () => {
    const r = checkHistorySync(
      hist(
        [1, 'invoke', 'write', 1, 'a'],
        [1, 'ok', 'write', 1, 'a'],
        [2, 'invoke', 'read', null, 'b'],
        [2, 'ok', 'read', null, 'b'],
        [2, 'invoke', 'read', null, 'a'],
        [2, 'ok', 'read', 2, 'a'],
      ),
    );
    assert.equal(r.valid, false);
    assert.equal(r.keys.b.valid, true);
    assert.equal(r.keys.a.valid, false);
    assert.equal(r.opCount, 3);
  });
});

describe('history parsing and validation', () => {
  it('parses JSONL and reports malformed lines with line numbers', () => {
    const good =
      '{"process":1,"type":"invoke","f":"read","key":"x","value":null,"time":1}\n\n' +
      '{"process":1,"type":"ok","f":"read","key":"x","value":null,"time":2}\n';
    assert.equal(parseHistory(good).length, 2);
    const bad = good + '{"process":1,"type":"okay","f":"read","key":"x","time":3}\nnot json\n';
    assert.throws(
      () => parseHistory(bad),
      (err: unknown) => {
        assert.ok(err instanceof HistoryError);
        assert.match(err.message, /line 4: "type" must be/);
        assert.match(err.message, /line 5: invalid JSON/);
        return true;
      },
    );
  });

  it('rejects a process reused after info, citing lines', () => {
    const text = [
      { process: 1, type: 'invoke', f: 'write', key: 'x', value: 1, time: 1 },
      { process: 1, type: 'info', f: 'write', key: 'x', value: 1, time: 2 },
      { process: 1, type: 'invoke', f: 'read', key: 'x', value: null, time: 3 },
    ]
      .map((e) => JSON.stringify(e))
      .join('\n');
    assert.throws(() => pairHistory(parseHistory(text)), /line 3: process 1 was retired/);
  });

  it('rejects completions without invocations and mismatched completions', () => {
    assert.throws(() => checkHistorySync(hist([1, 'ok', 'read', null])), /no pending invoke/);
    assert.throws(
      () => checkHistorySync(hist([1, 'invoke', 'read'], [1, 'ok', 'write', 1])),
      /does not match/,
    );
    assert.throws(
      () => checkHistorySync(hist([1, 'invoke', 'cas', 5 as Value])),
      /event #0: cas invoke needs value \[expected, new\]/,
    );
  });

  it('accepts JSONL text directly', async () => {
    const text = hist([1, 'invoke', 'write', 'a'], [1, 'ok', 'write', 'a'])
      .map((e) => JSON.stringify(e))
      .join('\n');
    assert.equal((await checkHistory(text)).valid, true);
  });
});

/** n concurrent writes, then two sequential reads that disagree: invalid, but exponential. */
function adversarial(n: number, key = 'hard'): HistoryEvent[] {
  const rows: [number, EventType, OpFunction, Value, string][] = [];
  for (let i = 0; i < n; i++) rows.push([i, 'invoke', 'write', i, key]);
  for (let i = 0; i < n; i++) rows.push([i, 'ok', 'write', i, key]);
  rows.push([n, 'invoke', 'read', null, key], [n, 'ok', 'read', 0, key]);
  rows.push([n, 'invoke', 'read', null, key], [n, 'ok', 'read', 1, key]);
  return hist(...rows);
}

describe('search limits', () => {
  it('reports unknown (never valid) when the time limit is hit', () => {
    const events = mergeHistories(1, [
      adversarial(24),
      simulateHistory({ seed: 2, ops: 200, processes: 4, keys: 1, pidBase: 1000 }),
    ]);
    const r = checkHistorySync(events, { timeLimitMsPerKey: 1 });
    assert.equal(r.keys.hard.valid, 'unknown');
    assert.match(r.keys.hard.reason ?? '', /time limit/);
    assert.equal(r.keys.k0.valid, true);
    assert.equal(r.valid, 'unknown');
    assert.notEqual(r.valid, true);
    assert.deepEqual(
      r.inconclusive.map((i) => i.key),
      ['hard'],
    );
    assert.match(formatResult(r), /UNKNOWN/);
  });

  it('reports unknown when the step budget is exhausted; invalid keys still win', () => {
    const bad = hist([1, 'invoke', 'read', null, 'b'], [1, 'ok', 'read', 'ghost', 'b']);
    const r = checkHistorySync([...adversarial(20), ...bad.map((e) => ({ ...e, time: 1e9 }))], {
      maxStepsPerKey: 10_000,
    });
    assert.equal(r.keys.hard.valid, 'unknown');
    assert.match(r.keys.hard.reason ?? '', /step budget/);
    assert.equal(r.valid, false);
  });

  it('finds the anomaly when the search is small enough', () => {
    const r = checkKeySync(pairHistory(adversarial(8)).ops);
    assert.equal(r.valid, false);
    assert.equal(r.longestLinearizedPrefix?.length, 9);
  });
});

/** A multi-key history where every `every`-th key has a read mutated to a never-written value. */
function multiKey(seed: number, keys: number, opsPerKey: number, every: number): HistoryEvent[] {
  const parts = [];
  for (let k = 0; k < keys; k++) {
    const part = simulateHistory({
      seed: seed + k,
      ops: opsPerKey,
      processes: 5,
      keys: 1,
      keyPrefix: `key${k}-`,
      pidBase: k * 10_000,
    });
    const read = part.findIndex((e) => e.type === 'ok' && e.f === 'read');
    if (every > 0 && k % every === 0 && read >= 0) part[read] = { ...part[read], value: 'bogus' };
    parts.push(part);
  }
  return mergeHistories(seed, parts);
}

describe('worker threads', () => {
  it('gives the same answers as the in-thread API', async () => {
    const events = multiKey(42, 24, 60, 5);
    const sync = checkHistorySync(events);
    const par = await checkHistory(events, { workers: 4 });
    assert.equal(sync.valid, false);
    assert.equal(par.valid, sync.valid);
    assert.equal(par.opCount, sync.opCount);
    assert.deepEqual(Object.keys(par.keys).sort(), Object.keys(sync.keys).sort());
    for (const [key, r] of Object.entries(sync.keys)) {
      assert.equal(par.keys[key].valid, r.valid, key);
      assert.equal(par.keys[key].reason, r.reason, key);
    }
    assert.ok(sync.anomalies.length >= 4);
  });

  it('performance sanity: 10,000 ops over 100 keys, concurrency 5', async () => {
    const events = multiKey(7, 100, 100, 0);
    let t = performance.now();
    const sync = checkHistorySync(events);
    const syncMs = performance.now() - t;
    t = performance.now();
    const par = await checkHistory(events, { workers: 8 });
    const parMs = performance.now() - t;
    assert.equal(sync.valid, true);
    assert.equal(par.valid, true);
    console.log(
      `checker perf: ${events.length} events, ${sync.opCount} ops, 100 keys: ` +
        `in-thread ${syncMs.toFixed(0)} ms, workers ${parMs.toFixed(0)} ms`,
    );
  });
});
