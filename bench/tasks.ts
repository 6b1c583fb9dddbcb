/**
 * bench/tasks: stream tasks end to end, on a real Kafka broker and a 3-node cluster of real
 * `strata node` processes on loopback (both started here). A benchmark, not a test.
 *
 * 1. Word count, events/s: `--lines` input lines (1 to 6 words each) are produced first into a
 *    4-partition topic; then one StreamTaskRuntime (in this process, 1 s checkpoint interval,
 *    output through the outbox to a second topic) counts them; the time is from start() until
 *    every task's recorded offset reaches the end of the input. events/s = lines / time.
 * 2. Checkpoint latency: one task instance writes `dirty` distinct keys (16-byte values) and
 *    cuts a checkpoint, `--rounds` times per size (100, 1,000, 10,000 keys); the latency is
 *    from the cut to the store's acknowledgement (TaskInstance CheckpointInfo.durationMs).
 *
 *   npm run bench:tasks -- [--lines 200000] [--rounds 40] [--json bench/results/tasks.json]
 */
import { writeFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { TaskInstance, type CheckpointInfo } from '../src/client/task-instance.js';
import type { OutputSink } from '../src/client/task-relay.js';
import { StreamTaskRuntime } from '../src/client/task-runtime.js';
import type { InputRecord, StreamTask } from '../src/client/task-types.js';
import { wordCountTask } from '../examples/wordcount.js';
import {
  LineSource,
  createTopics,
  endOffsets,
  produceLines,
  recordedOffsets,
  startEnv,
  waitFor,
  type Env,
} from '../jepsen-like-tests/tasks/harness.js';

const PARTITIONS = 4;

/** wordCountThroughput runs part 1 and returns events (lines) and words per second. */
async function wordCountThroughput(env: Env, lines: number) {
  const application = 'bench';
  const input = 'bench-in';
  await createTopics(env.kafka, [input, 'bench-out'], PARTITIONS);
  const source = new LineSource(PARTITIONS, 1);
  const produceStarted = performance.now();
  await produceLines(env.kafka, input, source, lines);
  const produceMs = performance.now() - produceStarted;
  let words = 0;
  for (const counts of source.expected.values()) for (const n of counts.values()) words += n;
  const checkpoints: CheckpointInfo[] = [];
  const runtime = new StreamTaskRuntime({
    application,
    topics: [input],
    task: wordCountTask('bench-out'),
    kafka: { brokers: [env.broker.bootstrap] },
    strata: { endpoints: env.cluster.endpoints() },
    checkpoint: { intervalMs: 1_000 },
    hooks: { onCheckpoint: (info) => checkpoints.push(info) },
  });
  const ends = await endOffsets(env.kafka, input);
  const started = performance.now();
  await runtime.start();
  await waitFor('the word count to finish', 600_000, async () => {
    const offsets = await recordedOffsets(env.client, application, input, PARTITIONS);
    return offsets.every((offset, p) => offset === ends[p]);
  });
  const seconds = (performance.now() - started) / 1_000;
  await runtime.stop();
  const durations = checkpoints.map((c) => c.durationMs).sort((a, b) => a - b);
  return {
    lines,
    words,
    seconds,
    eventsPerSecond: lines / seconds,
    wordsPerSecond: words / seconds,
    produceMs,
    checkpoints: checkpoints.length,
    checkpointP50Ms: percentile(durations, 0.5),
    checkpointP99Ms: percentile(durations, 0.99),
  };
}

/** checkpointLatency runs part 2 for one size and returns its latencies. */
async function checkpointLatency(env: Env, dirty: number, rounds: number) {
  const value = 'v'.repeat(16);
  const writer: StreamTask = {
    process(record, ctx) {
      for (let i = 0; i < dirty; i++) ctx.state.put(`r${record.offset % 2}k${i}`, value);
    },
  };
  const durations: number[] = [];
  const bytes: number[] = [];
  const sink: OutputSink = { publish: async () => undefined };
  const instance = new TaskInstance({
    taskId: `latency.${dirty}.0`,
    topic: 'none',
    partition: 0,
    owner: 'bench',
    task: writer,
    store: env.client,
    sink,
    checkpoint: { intervalMs: 3_600_000, maxBytes: Number.MAX_SAFE_INTEGER },
    hooks: {
      onCheckpoint: (info) => {
        durations.push(info.durationMs);
        bytes.push(info.bytes);
      },
    },
    earliestOffset: async () => 0,
  });
  await instance.start();
  const control = { shouldStop: () => false, onProcessed: () => undefined };
  for (let round = 0; round < rounds + 3; round++) {
    await instance.processRecords([inputRecord(round)], control);
    await instance.requestCheckpoint();
    await instance.settled();
  }
  await instance.close();
  const measured = durations.slice(3).sort((a, b) => a - b); // the first three warm up
  return {
    dirtyKeys: dirty,
    rounds: measured.length,
    bytes: bytes[bytes.length - 1] ?? 0,
    p50Ms: percentile(measured, 0.5),
    p99Ms: percentile(measured, 0.99),
    maxMs: measured[measured.length - 1] ?? 0,
  };
}

function inputRecord(offset: number): InputRecord {
  return { topic: 'none', partition: 0, offset, key: null, value: null, timestamp: 0, headers: {} };
}

/** percentile of sorted values (nearest rank). */
function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      lines: { type: 'string', default: '200000' },
      rounds: { type: 'string', default: '40' },
      json: { type: 'string' },
    },
  });
  const dir = await mkdtemp(join(tmpdir(), 'strata-bench-tasks-'));
  const env = await startEnv(dir, 16);
  try {
    const throughput = await wordCountThroughput(env, Number(values.lines));
    console.log(
      `word count: ${throughput.lines} lines (${throughput.words} words) in ` +
        `${throughput.seconds.toFixed(1)} s: ${Math.round(throughput.eventsPerSecond)} events/s, ` +
        `${Math.round(throughput.wordsPerSecond)} words/s; ${throughput.checkpoints} checkpoints, ` +
        `p50 ${throughput.checkpointP50Ms.toFixed(1)} ms, p99 ${throughput.checkpointP99Ms.toFixed(1)} ms`,
    );
    const latencies = [];
    for (const dirty of [100, 1_000, 10_000]) {
      const result = await checkpointLatency(env, dirty, Number(values.rounds));
      latencies.push(result);
      console.log(
        `checkpoint of ${dirty} dirty keys (${(result.bytes / 1024).toFixed(0)} KiB): ` +
          `p50 ${result.p50Ms.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms ` +
          `(${result.rounds} rounds, max ${result.maxMs.toFixed(1)} ms)`,
      );
    }
    if (values.json) {
      const report = { at: new Date().toISOString(), throughput, latencies };
      await writeFile(values.json, `${JSON.stringify(report, null, 2)}\n`);
    }
  } finally {
    await env.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
