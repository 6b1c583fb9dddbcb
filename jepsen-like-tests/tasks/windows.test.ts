/**
 * Tests of the windowed-aggregation example (examples/windows.ts) on a task instance over an
 * in-process state machine. What they prove: for random out-of-order readings of a few keys,
 * processed with crashes in between (the instance is dropped and a new one restores), the
 * final windows emitted (read through DedupFilter) are exactly those a direct computation
 * gives: same windows, counts, sums and averages, each once, none before the watermark passed
 * its end, and late readings counted instead of used. Bounded: a few seconds.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { DedupFilter } from '../../src/client/stream-dedup.js';
import { MemorySink, SmTaskStore } from '../../src/client/task-fake-store.js';
import { TaskInstance } from '../../src/client/task-instance.js';
import { KvStateMachine } from '../../src/store/sm-state-machine.js';
import {
  readingRecord,
  windowTask,
  windowsOf,
  type WindowOptions,
  type WindowResult,
} from '../../examples/windows.js';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

const OPTIONS: WindowOptions = {
  sizeMs: 1_000,
  slideMs: 250,
  latenessMs: 300,
  ewmaTauMs: 500,
  outputTopic: 'windows',
};

interface Reading {
  key: string;
  value: number;
  time: number;
}

/** expectedWindows computes the final windows and the late count directly. */
function expectedWindows(readings: readonly Reading[]) {
  let watermark = -1;
  let late = 0;
  const open = new Map<string, { key: string; end: number; count: number; sum: number }>();
  const closed: { key: string; end: number; count: number; sum: number }[] = [];
  for (const reading of readings) {
    if (reading.time < watermark) {
      late++;
      continue;
    }
    for (const end of windowsOf(reading.time, OPTIONS.sizeMs, OPTIONS.slideMs)) {
      const name = `${end}/${reading.key}`;
      const window = open.get(name) ?? { key: reading.key, end, count: 0, sum: 0 };
      window.count++;
      window.sum += reading.value;
      open.set(name, window);
    }
    watermark = Math.max(watermark, reading.time - OPTIONS.latenessMs);
    for (const [name, window] of open) {
      if (window.end <= watermark) {
        closed.push(window);
        open.delete(name);
      }
    }
  }
  return { closed, late };
}

async function run(readings: Reading[], crashes: number[]) {
  const dir = await mkdtemp(join(tmpdir(), 'strata-windows-'));
  dirs.push(dir);
  const machine = await KvStateMachine.open(dir);
  try {
    const store = new SmTaskStore(machine);
    const sink = new MemorySink();
    const records = readings.map((r, offset) => readingRecord(offset, r.key, r.value, r.time));
    const make = () =>
      new TaskInstance({
        taskId: 'windows.readings.0',
        topic: 'readings',
        partition: 0,
        owner: 'test',
        task: windowTask(OPTIONS),
        store,
        sink,
        checkpoint: { intervalMs: 60_000, maxRecords: 7 },
        earliestOffset: async () => 0,
      });
    const control = { shouldStop: () => false, onProcessed: () => undefined };
    for (const stopAt of [...crashes.sort((a, b) => a - b), records.length]) {
      const instance = make(); // the previous one was dropped without closing: a crash
      await instance.start();
      const from = instance.nextOffset ?? 0;
      await instance.processRecords(records.slice(from, Math.max(from, stopAt)), control);
      if (stopAt === records.length) await instance.close();
      else await instance.settled();
    }
    const filter = new DedupFilter();
    return sink.published
      .filter((record) => filter.accept(record.topic, record.partition, record.id))
      .map((record) => JSON.parse(new TextDecoder().decode(record.value!)) as WindowResult);
  } finally {
    await machine.close();
  }
}

describe('windowed aggregation example', () => {
  it('emits each final window once, exactly as computed directly, through crashes', async () => {
    const readingArb = fc.record({
      key: fc.constantFrom('a', 'b', 'c'),
      value: fc.integer({ min: -50, max: 50 }),
      jitter: fc.integer({ min: -400, max: 400 }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(readingArb, { minLength: 1, maxLength: 120 }),
        fc.array(fc.nat({ max: 120 }), { maxLength: 3 }),
        async (raw, crashes) => {
          const readings = raw.map((r, i) => ({
            key: r.key,
            value: r.value,
            time: 10_000 + i * 40 + r.jitter,
          }));
          const results = await run(readings, crashes);
          const { closed } = expectedWindows(readings);
          const show = (w: { key: string; end: number; count: number; sum: number }) =>
            `${w.key}@${w.end}:${w.count}/${w.sum}`;
          assert.deepEqual(results.map(show).sort(), closed.map(show).sort());
          for (const result of results) {
            assert.equal(result.start, result.end - OPTIONS.sizeMs);
            assert.equal(result.average, result.sum / result.count);
            assert.ok(result.ewma !== null && Number.isFinite(result.ewma));
          }
        },
      ),
      { numRuns: 30 },
    );
  });
});
