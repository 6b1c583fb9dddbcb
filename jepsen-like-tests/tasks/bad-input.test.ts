/**
 * Stream tasks given bad input, with a real Kafka broker and three real `strata node`
 * processes. What it proves (each failure is a typed error with a clear message, and the
 * task's state and record are unchanged by it):
 * 1. A task id that does not route (a brace would change its hash tag) is refused.
 * 2. A commit whose offsets go backwards is refused (OFFSETS_BACKWARDS); one from a stale epoch
 *    is FENCED; a seq gap is SEQ_OUT_OF_ORDER; a retry of the last commit is answered from the
 *    record without applying it again.
 * 3. A checkpoint larger than one entry is staged in chunks and promoted; one above the hard
 *    cap fails with CheckpointTooLargeError.
 * 4. A record the task throws on: with a dead-letter topic it lands there (with the error in a
 *    header) and the task goes on; with 'stop' the task stops at that record, having
 *    checkpointed everything before it.
 * 5. The status of `strata tasks` lists every task with its offsets, snapshot index and lag.
 * Bounded: well under a minute. Every process is stopped in after().
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InvalidArgumentError } from '../../src/client/errors.js';
import {
  CheckpointTooLargeError,
  FencedError,
  TaskProcessError,
  TaskProtocolError,
} from '../../src/client/task-errors.js';
import { TaskInstance } from '../../src/client/task-instance.js';
import { stateKey, taskKeys } from '../../src/client/task-keys.js';
import { StreamTaskRuntime, taskIdOf } from '../../src/client/task-runtime.js';
import {
  formatTaskStatus,
  gatherTaskStatus,
  kafkaHighWatermarks,
} from '../../src/client/task-status.js';
import type { InputRecord, StreamTask } from '../../src/client/task-types.js';
import { MemorySink } from '../../src/client/task-fake-store.js';
import { CHECKPOINT_BYTES_MAX } from '../../src/store/kv-limits.js';
import type { RequestOp } from '../../src/store/kv-types.js';
import { createTopics, recordedOffsets, sleep, startEnv, waitFor, type Env } from './harness.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
let dir = '';
let env: Env;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-bad-'));
  env = await startEnv(dir, 8);
});

after(async () => {
  await env?.close();
  await rm(dir, { recursive: true, force: true });
});

function put(taskId: string, key: string, value: string): RequestOp {
  const full = stateKey(taskKeys(taskId), key);
  return {
    type: 'put',
    put: { key: full, value: encoder.encode(value), prevKv: false, header: null },
  };
}

describe('stream tasks refuse bad input clearly and change nothing', () => {
  it('refuses a task id that does not route', async () => {
    await assert.rejects(env.client.acquire('bad{id}', 'me'), (error: unknown) => {
      assert.ok(error instanceof InvalidArgumentError);
      assert.match(error.message, /task id does not route: .*brace/);
      return true;
    });
  });

  it('refuses offsets going backwards, stale epochs and seq gaps; answers retries', async () => {
    const client = env.client;
    const taskId = 'rules.in.0';
    const acquired = await client.acquire(taskId, 'first');
    const base = { taskId, epoch: acquired.epoch, stagedChunks: 0, stats: null };
    const offsets = (nextOffset: number) => [{ topic: 'in', partition: 0, nextOffset }];
    const first = { ...base, seq: 1, ops: [put(taskId, 'a', '1')], offsets: offsets(10) };
    const committed = await client.commit(first);
    const retry = await client.commit(first);
    assert.deepEqual([retry.deduplicated, retry.snapshotIndex], [true, committed.snapshotIndex]);
    const backwards = { ...base, seq: 2, ops: [put(taskId, 'a', '2')], offsets: offsets(9) };
    await assert.rejects(client.commit(backwards), (error: unknown) => {
      assert.ok(error instanceof TaskProtocolError && error.code === 'OFFSETS_BACKWARDS');
      assert.match(error.message, /next offset 9 is below the recorded 10/);
      return true;
    });
    const gap = { ...base, seq: 5, ops: [], offsets: offsets(11) };
    await assert.rejects(client.commit(gap), { code: 'SEQ_OUT_OF_ORDER' });
    await client.acquire(taskId, 'second');
    const stale = { ...base, seq: 2, ops: [put(taskId, 'a', '3')], offsets: offsets(12) };
    await assert.rejects(client.commit(stale), (error: unknown) => error instanceof FencedError);
    const meta = await client.getCheckpoint(taskId);
    assert.deepEqual([meta?.seq, meta?.offsets[0]?.nextOffset], [1, 10]);
    const value = await client.get(stateKey(taskKeys(taskId), 'a'));
    assert.equal(decoder.decode(value!.value), '1');
  });

  it('stages a large checkpoint and refuses one above the hard cap', async () => {
    const taskId = 'large.in.0';
    const value = 'v'.repeat(60 * 1024);
    const big: StreamTask = {
      process(record, ctx) {
        const n = Number(decoder.decode(record.value!));
        for (let i = 0; i < n; i++) ctx.state.put(`k${record.offset}.${i}`, value);
      },
    };
    const staged: number[] = [];
    const instance = new TaskInstance({
      taskId,
      topic: 'in',
      partition: 0,
      owner: 'test',
      task: big,
      store: env.client,
      sink: new MemorySink(),
      checkpoint: { intervalMs: 600_000, maxBytes: Number.MAX_SAFE_INTEGER, deadlineMs: 30_000 },
      hooks: { onCheckpoint: (info) => staged.push(info.stagedChunks) },
      earliestOffset: async () => 0,
    });
    await instance.start();
    const record = (offset: number, n: number): InputRecord => ({
      topic: 'in',
      partition: 0,
      offset,
      key: null,
      value: encoder.encode(String(n)),
      timestamp: 0,
      headers: {},
    });
    const control = { shouldStop: () => false, onProcessed: () => undefined };
    await instance.processRecords([record(0, 80)], control); // ~4.8 MB: over one entry
    await instance.requestCheckpoint();
    await instance.settled();
    assert.equal(instance.state, 'running', instance.failure?.message);
    assert.ok(staged[0]! >= 4, `staged in ${staged[0]} chunks`);
    const read = await env.client.get(stateKey(taskKeys(taskId), 'k0.79'));
    assert.equal(read?.value.length, value.length);
    const over = Math.ceil(CHECKPOINT_BYTES_MAX / value.length) + 1;
    await instance.processRecords([record(1, over)], control);
    await instance.requestCheckpoint();
    await instance.settled();
    assert.ok(instance.failure instanceof CheckpointTooLargeError, instance.failure?.message);
    assert.match(instance.failure.message, /above the limit checkpointBytesMax/);
    const meta = await env.client.getCheckpoint(taskId);
    assert.equal(meta?.offsets[0]?.nextOffset, 1);
  });

  it('dead-letters a throwing record, or stops at it', async () => {
    const input = 'poison-in';
    await createTopics(env.kafka, [input, 'poison-out', 'poison-dlq'], 1);
    const producer = env.kafka.producer();
    await producer.connect();
    await producer.send({
      topic: input,
      messages: ['ok1', 'poison', 'ok2'].map((value) => ({ value })),
    });
    await producer.disconnect();
    const task: StreamTask = {
      process(record, ctx) {
        const text = decoder.decode(record.value!);
        ctx.state.put(text, 'seen');
        if (text === 'poison') throw new Error('cannot digest poison');
        ctx.emit('poison-out', { value: text });
      },
    };
    const stopped: Error[] = [];
    const run = async (
      application: string,
      onProcessError: 'stop' | { deadLetterTopic: string },
    ) => {
      const runtime = new StreamTaskRuntime({
        application,
        topics: [input],
        task,
        kafka: { brokers: [env.broker.bootstrap] },
        strata: { endpoints: env.cluster.endpoints() },
        checkpoint: { intervalMs: 200 },
        onProcessError,
        hooks: { onStopped: (_, error) => stopped.push(error), log: () => undefined },
      });
      await runtime.start();
      return runtime;
    };
    const dlq = await run('dlq', { deadLetterTopic: 'poison-dlq' });
    try {
      await waitFor('the dead-letter run to finish', 30_000, async () => {
        const [offset] = await recordedOffsets(env.client, 'dlq', input, 1);
        return offset === 3;
      });
    } finally {
      await dlq.stop();
    }
    const dead = await readTopic('poison-dlq', 1);
    assert.equal(decoder.decode(dead[0]!.value!), 'poison');
    assert.match(
      decoder.decode(dead[0]!.headers['strata-error'] as Buffer),
      /cannot digest poison/,
    );
    const keys = taskKeys(taskIdOf('dlq', input, 0));
    assert.equal(await env.client.get(stateKey(keys, 'poison')), null);
    const stop = await run('stopper', 'stop');
    try {
      await waitFor('the task to stop', 30_000, async () => stopped.length > 0);
      await sleep(300);
    } finally {
      await stop.stop();
    }
    assert.ok(stopped[0] instanceof TaskProcessError, String(stopped[0]));
    assert.match(stopped[0].message, /poison-in\/0@1: cannot digest poison/);
    const [offset] = await recordedOffsets(env.client, 'stopper', input, 1);
    assert.equal(offset, 1);
  });

  it('shows every task with its offsets, snapshot index, size and lag (strata tasks)', async () => {
    const kafka = kafkaHighWatermarks([env.broker.bootstrap]);
    try {
      const rows = await gatherTaskStatus(env.client, { highWatermarks: kafka.highWatermarks });
      const byId = new Map(rows.map((row) => [row.taskId, row]));
      assert.ok(byId.has('rules.in.0') && byId.has('large.in.0'), [...byId.keys()].join(' '));
      assert.equal(byId.get('dlq.poison-in.0')?.partitions[0]?.lag, 0);
      assert.equal(byId.get('stopper.poison-in.0')?.partitions[0]?.lag, 2);
      assert.ok((byId.get('dlq.poison-in.0')?.snapshotIndex ?? 0) > 0);
      const table = formatTaskStatus(rows);
      assert.match(table, /^TASK +OWNER +EPOCH +SEQ +SNAPSHOT +OFFSETS +LAG/);
      assert.match(table, /stopper\.poison-in\.0 .* poison-in\/0=1 +2 /);
    } finally {
      await kafka.close();
    }
  });
});

/** readTopic reads the first `count` records of a one-partition topic. */
async function readTopic(topic: string, count: number) {
  const consumer = env.kafka.consumer({ groupId: `read-${topic}-${Date.now()}` });
  await consumer.connect();
  const records: { value: Buffer | null; headers: Record<string, unknown> }[] = [];
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${topic}: fewer than ${count} records`)),
        30_000,
      );
      void consumer.run({
        eachMessage: async ({ message }) => {
          records.push({ value: message.value, headers: message.headers ?? {} });
          if (records.length >= count) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return records;
}
