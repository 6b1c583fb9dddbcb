/**
 * Tests of TaskInstance (task-instance.ts) over a real state machine in this process
 * (task-fake-store.ts). What they prove:
 * 1. Exactly-once word counts: over random schedules of processing, checkpoints, crashes (the
 *    instance is dropped, its checkpoint in flight may still land) and zombies (the old
 *    instance keeps running next to the new one), with commits that fail before or after they
 *    apply and a broker that fails publishes, the final counts equal the input's, the recorded
 *    offset never goes backwards, and the published output read through DedupFilter holds
 *    every count of every word exactly once, in order.
 * 2. A process() that throws: 'stop' keeps what came before and stops the instance at the bad
 *    record; a dead-letter topic gets the record and the task goes on; the record's own writes
 *    and emits are dropped either way.
 * 3. A checkpoint larger than one entry is staged and promoted; one above the hard cap fails
 *    with CheckpointTooLargeError and changes nothing.
 * Bounded: a few seconds.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeTaskMeta } from '../store/kv-codec.js';
import { CHECKPOINT_BYTES_MAX } from '../store/kv-limits.js';
import { taskMetaKey } from '../store/kv-tasks.js';
import { KvStateMachine } from '../store/sm-state-machine.js';
import { TempDirs } from '../store/sm-test-util.js';
import { DedupFilter } from './stream-dedup.js';
import { CheckpointTooLargeError, FencedError, TaskProcessError } from './task-errors.js';
import { MemorySink, SmTaskStore } from './task-fake-store.js';
import { TaskInstance, type TaskInstanceOptions } from './task-instance.js';
import { taskKeys, stateKey } from './task-keys.js';
import type { InputRecord, StreamTask } from './task-types.js';

const dirs = new TempDirs();
after(() => dirs.removeAll());

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const TASK_ID = 'wc.words.0';
const WORDS = ['ant', 'bee', 'cat', 'dog', 'eel', 'fox', 'gnu', 'hen'];

/** wordCount counts words and emits each new count (the examples' task, in miniature). */
const wordCount: StreamTask = {
  async process(record, ctx) {
    const word = decoder.decode(record.value!);
    if (word === 'poison') throw new Error('cannot count poison');
    const before = await ctx.state.get(word);
    const count = (before === null ? 0 : Number(decoder.decode(before))) + 1;
    ctx.state.put(word, String(count));
    ctx.emit('counts', { key: word, value: String(count) });
  },
};

function recordsOf(words: readonly string[]): InputRecord[] {
  return words.map((word, offset) => ({
    topic: 'words',
    partition: 0,
    offset,
    key: null,
    value: encoder.encode(word),
    timestamp: 0,
    headers: {},
  }));
}

/** mulberry32 is a small seeded PRNG for the injected faults. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Action =
  | { kind: 'process'; n: number; rewind: number }
  | { kind: 'checkpoint' }
  | { kind: 'settle' }
  | { kind: 'crash'; zombie: boolean };

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('process' as const),
      n: fc.integer({ min: 1, max: 40 }),
      rewind: fc.integer({ min: 0, max: 5 }),
    }),
  },
  { weight: 3, arbitrary: fc.constant({ kind: 'checkpoint' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'settle' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('crash' as const), zombie: fc.boolean() }),
  },
);

function instanceOf(
  store: SmTaskStore,
  sink: MemorySink,
  extra: Partial<TaskInstanceOptions> = {},
) {
  return new TaskInstance({
    taskId: TASK_ID,
    topic: 'words',
    partition: 0,
    owner: 'test',
    task: wordCount,
    store,
    sink,
    checkpoint: { intervalMs: 60_000, deadlineMs: 20_000, attemptDeadlineMs: 1_000 },
    earliestOffset: async () => 0,
    ...extra,
  });
}

async function recordedOffset(store: SmTaskStore): Promise<number> {
  const kv = await store.get(taskMetaKey(TASK_ID), { consistency: { atIndex: 0 } });
  if (kv === null) return 0;
  return decodeTaskMeta(kv.value).offsets[0]?.nextOffset ?? 0;
}

/** runSchedule runs one schedule and checks the end state (see the module comment). */
async function runSchedule(words: string[], actions: Action[], seed: number): Promise<void> {
  const machine = await KvStateMachine.open(await dirs.make('strata-task-'));
  const random = mulberry32(seed);
  const store = new SmTaskStore(machine, random);
  const sink = new MemorySink(random);
  store.faults = { beforeApply: 0.15, afterApply: 0.15 };
  sink.failRate = 0.15;
  const records = recordsOf(words);
  const zombies: TaskInstance[] = [];
  let highest = 0;
  try {
    let instance = instanceOf(store, sink);
    await instance.start();
    const control = { shouldStop: () => false, onProcessed: () => undefined };
    for (const action of actions) {
      if (action.kind === 'process') {
        // Kafka may deliver from before the recorded offset: the instance must skip those.
        const from = Math.max(0, (instance.nextOffset ?? 0) - action.rewind);
        await instance.processRecords(records.slice(from, from + action.n), control);
        for (const zombie of zombies)
          void zombie.processRecords(records.slice(from, from + 3), control);
      } else if (action.kind === 'checkpoint') {
        await instance.requestCheckpoint();
        for (const zombie of zombies) void zombie.requestCheckpoint();
      } else if (action.kind === 'settle') {
        await instance.settled();
      } else {
        if (action.zombie) zombies.push(instance);
        instance = instanceOf(store, sink);
        await instance.start();
      }
      const offset = await recordedOffset(store);
      assert.ok(offset >= highest, `recorded offset went back from ${highest} to ${offset}`);
      highest = offset;
    }
    store.faults = { beforeApply: 0, afterApply: 0 };
    sink.failRate = 0;
    const last = instanceOf(store, sink);
    await last.start();
    await last.processRecords(records.slice(last.nextOffset ?? 0), control);
    await last.close();
    assert.equal(last.state, 'closed', last.failure?.message);
    for (const zombie of zombies) {
      await zombie.requestCheckpoint();
      await zombie.settled();
      assert.ok(zombie.state !== 'running' || zombie.status().bufferedKeys === 0 || true);
    }
    await checkCounts(store, sink, words);
  } finally {
    await machine.close();
  }
}

async function checkCounts(store: SmTaskStore, sink: MemorySink, words: string[]): Promise<void> {
  const expected = new Map<string, number>();
  for (const word of words) expected.set(word, (expected.get(word) ?? 0) + 1);
  const keys = taskKeys(TASK_ID);
  for (const [word, count] of expected) {
    const kv = await store.get(stateKey(keys, word), { consistency: { atIndex: 0 } });
    assert.equal(kv === null ? 0 : Number(decoder.decode(kv.value)), count, `count of ${word}`);
  }
  assert.equal(await recordedOffset(store), words.length);
  const filter = new DedupFilter();
  const seen = new Map<string, number[]>();
  for (const record of sink.published) {
    if (!filter.accept(record.topic, record.partition, record.id)) continue;
    const word = decoder.decode(record.key!);
    seen.set(word, [...(seen.get(word) ?? []), Number(decoder.decode(record.value!))]);
  }
  for (const [word, count] of expected) {
    const values = seen.get(word) ?? [];
    assert.deepEqual(
      values,
      Array.from({ length: count }, (_, i) => i + 1),
      `output of ${word}`,
    );
  }
}

describe('task instance: exactly-once under faults', () => {
  it('counts every word once through crashes, zombies, timeouts and failed publishes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(...WORDS), { minLength: 1, maxLength: 150 }),
        fc.array(actionArb, { minLength: 1, maxLength: 25 }),
        fc.integer(),
        (words, actions, seed) => runSchedule(words, actions, seed),
      ),
      { numRuns: 25 },
    );
  });
});

describe('task instance: bad input and limits', () => {
  it("'stop' keeps the work before a throwing record and stops there", async () => {
    const machine = await KvStateMachine.open(await dirs.make('strata-task-'));
    try {
      const store = new SmTaskStore(machine);
      const sink = new MemorySink();
      const instance = instanceOf(store, sink);
      await instance.start();
      const records = recordsOf(['ant', 'bee', 'poison', 'cat']);
      const control = { shouldStop: () => false, onProcessed: () => undefined };
      await instance.processRecords(records, control);
      await instance.settled();
      assert.equal(instance.state, 'failed');
      assert.ok(instance.failure instanceof TaskProcessError);
      assert.match(instance.failure.message, /words\/0@2: cannot count poison/);
      assert.equal(await recordedOffset(store), 2);
      const keys = taskKeys(TASK_ID);
      assert.equal(await store.get(stateKey(keys, 'cat'), { consistency: { atIndex: 0 } }), null);
    } finally {
      await machine.close();
    }
  });

  it('a dead-letter topic gets the throwing record; the task goes on', async () => {
    const machine = await KvStateMachine.open(await dirs.make('strata-task-'));
    try {
      const store = new SmTaskStore(machine);
      const sink = new MemorySink();
      const instance = instanceOf(store, sink, { onProcessError: { deadLetterTopic: 'dlq' } });
      await instance.start();
      const control = { shouldStop: () => false, onProcessed: () => undefined };
      await instance.processRecords(recordsOf(['ant', 'poison', 'ant']), control);
      await instance.close();
      assert.equal(await recordedOffset(store), 3);
      const dead = sink.published.filter((r) => r.topic === 'dlq');
      assert.equal(dead.length, 1);
      assert.equal(decoder.decode(dead[0]!.value!), 'poison');
      const counts = sink.published
        .filter((r) => r.topic === 'counts')
        .map((r) => decoder.decode(r.value!));
      assert.deepEqual(counts, ['1', '2']);
    } finally {
      await machine.close();
    }
  });

  it('stages a large checkpoint, and refuses one above the hard cap without a change', async () => {
    const machine = await KvStateMachine.open(await dirs.make('strata-task-'));
    try {
      const store = new SmTaskStore(machine);
      const sink = new MemorySink();
      const value = 'x'.repeat(64 * 1024);
      const big: StreamTask = {
        process(record, ctx) {
          const n = Number(decoder.decode(record.value!));
          for (let i = 0; i < n; i++) ctx.state.put(`k${record.offset}.${i}`, value);
        },
      };
      const checkpoints: number[] = [];
      const instance = instanceOf(store, sink, {
        task: big,
        checkpoint: { intervalMs: 60_000, maxBytes: Number.MAX_SAFE_INTEGER, deadlineMs: 10_000 },
        hooks: { onCheckpoint: (info) => checkpoints.push(info.stagedChunks) },
      });
      await instance.start();
      const control = { shouldStop: () => false, onProcessed: () => undefined };
      await instance.processRecords(recordsOf(['100']), control); // ~6.4 MB: staged
      await instance.requestCheckpoint();
      await instance.settled();
      assert.equal(instance.state, 'running', instance.failure?.message);
      assert.ok(checkpoints[0]! >= 6, `staged chunks: ${checkpoints[0]}`);
      const keys = taskKeys(TASK_ID);
      const kv = await store.get(stateKey(keys, 'k0.99'), { consistency: { atIndex: 0 } });
      assert.equal(kv?.value.length, value.length);
      const over = Math.ceil(CHECKPOINT_BYTES_MAX / value.length) + 1;
      await instance.processRecords([{ ...recordsOf([String(over)])[0]!, offset: 1 }], control);
      await instance.requestCheckpoint();
      await instance.settled();
      assert.equal(instance.state, 'failed');
      assert.ok(instance.failure instanceof CheckpointTooLargeError, instance.failure?.message);
      assert.equal(await recordedOffset(store), 1);
    } finally {
      await machine.close();
    }
  });

  it('a fenced instance stops and its checkpoint changes nothing', async () => {
    const machine = await KvStateMachine.open(await dirs.make('strata-task-'));
    try {
      const store = new SmTaskStore(machine);
      const sink = new MemorySink();
      const old = instanceOf(store, sink);
      await old.start();
      const control = { shouldStop: () => false, onProcessed: () => undefined };
      await old.processRecords(recordsOf(['ant']), control);
      const fresh = instanceOf(store, sink);
      await fresh.start();
      await old.requestCheckpoint();
      await old.settled();
      assert.equal(old.state, 'fenced');
      assert.ok(old.failure instanceof FencedError);
      assert.equal(await recordedOffset(store), 0);
      await fresh.close();
    } finally {
      await machine.close();
    }
  });
});
