/**
 * Shared set-up of the stream-task tests: a real Kafka broker (src/kafka/broker.ts), a cluster
 * of real `strata node` processes (ProcessCluster), word-count worker processes
 * (wordcount-worker.ts), a known input, and the checks: counts in Strata, recorded offsets,
 * and the output topic read through DedupFilter. Every process it starts is stopped by `close`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { startBroker, type Broker } from '../../src/kafka/broker.js';
import { DedupFilter, recordIdOf } from '../../src/client/stream-dedup.js';
import { TaskClient } from '../../src/client/task-client.js';
import { taskKeys } from '../../src/client/task-keys.js';
import { taskIdOf } from '../../src/client/task-runtime.js';
import { ProcessCluster, REPO_ROOT } from '../harness/process-cluster.js';
import type { WorkerConfig } from './wordcount-worker.js';

const decoder = new TextDecoder();
const WORKER = join(REPO_ROOT, 'dist', 'jepsen-like-tests', 'tasks', 'wordcount-worker.js');

/** Env is a running broker and store cluster with a task client. */
export interface Env {
  broker: Broker;
  cluster: ProcessCluster;
  client: TaskClient;
  kafka: Kafka;
  close(): Promise<void>;
}

/** startEnv starts a broker and a 3-node cluster under `dir`. */
export async function startEnv(dir: string, groupCount = 8): Promise<Env> {
  const broker = await startBroker({ dir: join(dir, 'kafka') });
  let cluster: ProcessCluster | null = null;
  try {
    cluster = await ProcessCluster.start({ dir: join(dir, 'cluster'), nodes: 3, groupCount });
    await cluster.waitForLeaders(groupCount, 30_000);
    const client = await TaskClient.connect({ endpoints: cluster.endpoints(), deadlineMs: 10_000 });
    const kafka = new Kafka({ brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
    const running = cluster;
    return {
      broker,
      cluster,
      client,
      kafka,
      close: async () => {
        client.close();
        await running.close();
        await broker.stop();
      },
    };
  } catch (error) {
    await cluster?.close();
    await broker.stop();
    throw error;
  }
}

/** createTopics creates topics with `partitions` partitions each. */
export async function createTopics(kafka: Kafka, topics: string[], partitions: number) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: topics.map((topic) => ({ topic, numPartitions: partitions })),
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
}

/** VOCABULARY is the words of the generated input. */
export const VOCABULARY = Array.from({ length: 40 }, (_, i) => `w${i.toString(36)}`);

/** LineSource generates lines of words from a seed and keeps the expected counts. */
export class LineSource {
  /** expected maps partition -> word -> count of everything generated so far. */
  readonly expected = new Map<number, Map<string, number>>();
  lines = 0;
  #state: number;

  constructor(
    readonly partitions: number,
    seed: number,
  ) {
    this.#state = seed >>> 0 || 1;
  }

  /** next returns the next `count` messages (round-robin over the partitions). */
  next(count: number): { partition: number; value: string }[] {
    const messages = [];
    for (let i = 0; i < count; i++) {
      const length = 1 + Math.floor(this.#random() * 6);
      const words = Array.from(
        { length },
        () => VOCABULARY[Math.floor(this.#random() * VOCABULARY.length)]!,
      );
      const partition = this.lines++ % this.partitions;
      const counts = this.expected.get(partition) ?? new Map<string, number>();
      for (const word of words) counts.set(word, (counts.get(word) ?? 0) + 1);
      this.expected.set(partition, counts);
      messages.push({ partition, value: words.join(' ') });
    }
    return messages;
  }

  #random(): number {
    this.#state ^= this.#state << 13;
    this.#state ^= this.#state >>> 17;
    this.#state ^= this.#state << 5;
    return (this.#state >>> 0) / 4294967296;
  }
}

/** produceLines writes `lines` lines from `source` to `topic` (acks from all replicas). */
export async function produceLines(
  kafka: Kafka,
  topic: string,
  source: LineSource,
  lines: number,
): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  try {
    for (let start = 0; start < lines; start += 1_000) {
      const messages = source.next(Math.min(1_000, lines - start));
      await producer.send({ topic, messages, acks: -1 });
    }
  } finally {
    await producer.disconnect();
  }
}

/**
 * Feeder produces `linesPerTick` lines every `tickMs` in the background until stopped, so
 * workers are always mid-stream when a fault hits them.
 */
export class Feeder {
  readonly #done: Promise<void>;
  #stopped = false;

  constructor(
    kafka: Kafka,
    topic: string,
    source: LineSource,
    linesPerTick: number,
    tickMs: number,
  ) {
    this.#done = (async () => {
      const producer = kafka.producer();
      await producer.connect();
      try {
        for (let tick = 0; tick < 100_000 && !this.#stopped; tick++) {
          await producer.send({ topic, messages: source.next(linesPerTick), acks: -1 });
          await sleep(tickMs);
        }
      } finally {
        await producer.disconnect();
      }
    })();
  }

  /** stop ends the feeding and waits for the last send. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#done;
  }
}

/** countProblems compares stored counts with the expected ones, per partition. */
export function countProblems(
  expected: Map<number, Map<string, number>>,
  stored: Map<number, Map<string, number>>,
): string[] {
  const problems: string[] = [];
  for (const [partition, counts] of expected) {
    const got = stored.get(partition) ?? new Map<string, number>();
    for (const [word, count] of counts) {
      if (got.get(word) !== count) {
        problems.push(
          `partition ${partition} word ${word}: stored ${got.get(word)}, expected ${count}`,
        );
      }
    }
    for (const word of got.keys()) {
      if (!counts.has(word)) problems.push(`partition ${partition}: unexpected word ${word}`);
    }
  }
  return problems;
}

/**
 * outputProblems checks the deduplicated output: for every task and word, the emitted counts
 * are exactly 1, 2, ..., the expected count.
 */
export function outputProblems(
  expected: Map<number, Map<string, number>>,
  byTask: Map<string, Map<string, number[]>>,
  taskIdOfPartition: (partition: number) => string,
): string[] {
  const problems: string[] = [];
  for (const [partition, counts] of expected) {
    const taskId = taskIdOfPartition(partition);
    const emitted = byTask.get(taskId) ?? new Map<string, number[]>();
    for (const [word, count] of counts) {
      const values = emitted.get(word) ?? [];
      const exact = values.length === count && values.every((value, i) => value === i + 1);
      if (!exact) {
        const shown =
          values.length > 12 ? `${values.slice(0, 12).join(',')},...` : values.join(',');
        problems.push(
          `${taskId} ${word}: emitted ${values.length} counts [${shown}], expected 1..${count}`,
        );
      }
    }
  }
  return problems;
}

/**
 * OffsetMonitor polls every task's recorded offsets in the background and notes any that went
 * backwards (the store refuses that, so this checks it end to end).
 */
export class OffsetMonitor {
  readonly problems: string[] = [];
  readonly #done: Promise<void>;
  #stopped = false;

  constructor(client: TaskClient, application: string, topic: string, partitions: number) {
    const highest = new Array<number>(partitions).fill(-1);
    this.#done = (async () => {
      for (let round = 0; round < 100_000 && !this.#stopped; round++) {
        const offsets = await recordedOffsets(client, application, topic, partitions).catch(
          () => null,
        );
        offsets?.forEach((offset, p) => {
          if (offset < highest[p]!) {
            this.problems.push(`task ${p}: recorded offset went from ${highest[p]} to ${offset}`);
          }
          highest[p] = Math.max(highest[p]!, offset);
        });
        await sleep(100);
      }
    })();
  }

  /** stop ends the polling. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#done;
  }
}

/** Worker is one word-count worker process. */
export class Worker {
  readonly lines: string[] = [];
  readonly stderr: string[] = [];
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  #waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];

  constructor(config: WorkerConfig) {
    this.child = spawn(process.execPath, [WORKER, JSON.stringify(config)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buffered = '';
    this.child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop()!;
      for (const line of parts) this.#onLine(line);
    });
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr.push(chunk.toString());
      if (this.stderr.length > 200) this.stderr.splice(0, 100);
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  /** running says whether the process is alive. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** waitLine resolves with the first line (seen or to come) matching `pattern`. */
  waitLine(pattern: RegExp, timeoutMs: number): Promise<string> {
    const seen = this.lines.find((line) => pattern.test(line));
    if (seen !== undefined) return Promise.resolve(seen);
    return withTimeout(
      new Promise<string>((resolve) => this.#waiters.push({ pattern, resolve })),
      timeoutMs,
      `no line matching ${pattern} within ${timeoutMs} ms\n${this.stderr.join('').slice(-2_000)}`,
    );
  }

  /** kill sends `signal` and waits (bounded) for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 20_000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGCONT');
    this.child.kill(signal);
    await withTimeout(this.exited, timeoutMs, `worker did not exit on ${signal}`).catch(
      async () => {
        this.child.kill('SIGKILL');
        await this.exited;
      },
    );
  }

  #onLine(line: string): void {
    this.lines.push(line);
    const still = [];
    for (const waiter of this.#waiters) {
      if (waiter.pattern.test(line)) waiter.resolve(line);
      else still.push(waiter);
    }
    this.#waiters = still;
  }
}

/** recordedOffsets reads every task's recorded next offset (-1: no checkpoint yet). */
export async function recordedOffsets(
  client: TaskClient,
  application: string,
  topic: string,
  partitions: number,
): Promise<number[]> {
  const offsets: number[] = [];
  for (let p = 0; p < partitions; p++) {
    const meta = await client.getCheckpoint(taskIdOf(application, topic, p));
    offsets.push(meta?.offsets.find((o) => o.partition === p)?.nextOffset ?? -1);
  }
  return offsets;
}

/** endOffsets reads the input's high watermarks, by partition. */
export async function endOffsets(kafka: Kafka, topic: string): Promise<number[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.sort((a, b) => a.partition - b.partition).map((o) => Number(o.high));
  } finally {
    await admin.disconnect();
  }
}

/** storedCounts reads every task's counts from Strata, by partition. */
export async function storedCounts(
  client: TaskClient,
  application: string,
  topic: string,
  partitions: number,
): Promise<Map<number, Map<string, number>>> {
  const counts = new Map<number, Map<string, number>>();
  for (let p = 0; p < partitions; p++) {
    const prefix = taskKeys(taskIdOf(application, topic, p)).state;
    const kvs = await client.scan({ prefix });
    const map = new Map<string, number>();
    for (const kv of kvs) {
      map.set(decoder.decode(kv.key.subarray(prefix.length)), Number(decoder.decode(kv.value)));
    }
    counts.set(p, map);
  }
  return counts;
}

/**
 * readOutput reads the output topic from the start to its current end through a DedupFilter
 * and returns, per task, each word's emitted counts in order, and the duplicates dropped.
 */
export async function readOutput(kafka: Kafka, topic: string, timeoutMs = 60_000) {
  const ends = await endOffsets(kafka, topic);
  const filter = new DedupFilter();
  const byTask = new Map<string, Map<string, number[]>>();
  const consumer = kafka.consumer({ groupId: `check-${Date.now()}-${Math.random()}` });
  await consumer.connect();
  const remaining = new Set(ends.map((end, p) => (end > 0 ? p : -1)).filter((p) => p >= 0));
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const done = new Promise<void>((resolve) => {
      if (remaining.size === 0) resolve();
      void consumer.run({
        eachMessage: async ({ partition, message }) => {
          const id = recordIdOf(message.headers);
          if (filter.accept(topic, partition, id)) {
            const taskId =
              id === null ? '?' : id.slice(0, id.lastIndexOf(':', id.lastIndexOf(':') - 1));
            const words = byTask.get(taskId) ?? new Map<string, number[]>();
            const word = decoder.decode(message.key!);
            words.set(word, [...(words.get(word) ?? []), Number(decoder.decode(message.value!))]);
            byTask.set(taskId, words);
          }
          if (Number(message.offset) + 1 >= ends[partition]!) {
            remaining.delete(partition);
            if (remaining.size === 0) resolve();
          }
        },
      });
    });
    await withTimeout(done, timeoutMs, `output ${topic} not read to its end in ${timeoutMs} ms`);
  } finally {
    await consumer.disconnect();
  }
  return { byTask, duplicates: filter.duplicates };
}

/** totals sums per-partition counts into one map. */
export function totals(perPartition: Map<number, Map<string, number>>): Map<string, number> {
  const sum = new Map<string, number>();
  for (const counts of perPartition.values()) {
    for (const [word, count] of counts) sum.set(word, (sum.get(word) ?? 0) + count);
  }
  return sum;
}

/** sleep waits `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** withTimeout rejects with `message` if `promise` takes longer than `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** waitFor polls `check` every 200 ms until it holds, or fails after `timeoutMs`. */
export async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>) {
  const deadline = Date.now() + timeoutMs;
  for (let round = 0; Date.now() < deadline; round++) {
    if (await check().catch(() => false)) return;
    await sleep(200);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
