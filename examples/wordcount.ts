/**
 * Word count: the stream task of the examples and of the exactly-once tests. Each input record
 * is a line of text; every word's count lives in Strata (task state key = the word) and every
 * new count is emitted to the output topic (key = the word, value = the count), exactly once.
 *
 * Run it against the dev cluster and the local broker: `npm run example -- wordcount`.
 */
import { Kafka, logLevel } from 'kafkajs';
import { StreamTaskRuntime, type StreamTaskRuntimeOptions } from '../src/client/task-runtime.js';
import type { StreamTask } from '../src/client/task-types.js';

const decoder = new TextDecoder();

/** WORD_PATTERN picks words: letters, digits and apostrophes, lower-cased first. */
const WORD_PATTERN = /[a-z0-9']+/g;

/** wordsOf splits a line into words. */
export function wordsOf(line: string): string[] {
  return line.toLowerCase().match(WORD_PATTERN) ?? [];
}

/** wordCountTask counts words and emits every new count to `outputTopic`. */
export function wordCountTask(outputTopic: string): StreamTask {
  return {
    async process(record, ctx) {
      const line = record.value === null ? '' : decoder.decode(record.value);
      for (const word of wordsOf(line)) {
        const before = await ctx.state.get(word);
        const count = (before === null ? 0 : Number(decoder.decode(before))) + 1;
        ctx.state.put(word, String(count));
        ctx.emit(outputTopic, { key: word, value: String(count) });
      }
    },
  };
}

/** WordCountOptions configure the example run. */
export interface WordCountOptions {
  brokers: string[];
  endpoints: string[];
  inputTopic?: string;
  outputTopic?: string;
  /** lines is how many sample lines to produce first (default 2,000; 0: none). */
  lines?: number;
  /** runMs is how long to run (default 15,000). */
  runMs?: number;
}

const SAMPLE =
  'the quick brown fox jumps over the lazy dog while the cat sleeps ' +
  'and a bird sings to the fox that the dog chased yesterday';

/** runWordCount produces sample lines, runs the task, and prints the top counts. */
export async function runWordCount(options: WordCountOptions): Promise<void> {
  const inputTopic = options.inputTopic ?? 'example-lines';
  const outputTopic = options.outputTopic ?? 'example-word-counts';
  const kafka = new Kafka({ brokers: options.brokers, logLevel: logLevel.NOTHING });
  await ensureTopics(kafka, [inputTopic, outputTopic], 4);
  const lines = options.lines ?? 2_000;
  if (lines > 0) await produceSample(kafka, inputTopic, lines);
  const runtimeOptions: StreamTaskRuntimeOptions = {
    application: 'example-wordcount',
    topics: [inputTopic],
    task: wordCountTask(outputTopic),
    kafka: { brokers: options.brokers },
    strata: { endpoints: options.endpoints },
    checkpoint: { intervalMs: 1_000 },
    hooks: {
      onCheckpoint: (info) =>
        console.log(
          `checkpoint ${info.taskId} seq ${info.seq} index ${info.snapshotIndex} ` +
            `next offset ${info.offsets[0]?.nextOffset} (${info.ops} ops, ` +
            `${info.durationMs.toFixed(1)} ms)`,
        ),
    },
  };
  const runtime = new StreamTaskRuntime(runtimeOptions);
  await runtime.start();
  await new Promise((resolve) => setTimeout(resolve, options.runMs ?? 15_000));
  await runtime.stop();
  console.log(`done: the counts are in Strata under {task:example-wordcount.${inputTopic}.<p>}/s/`);
}

/** ensureTopics creates missing topics with `partitions` partitions. */
export async function ensureTopics(kafka: Kafka, topics: string[], partitions: number) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((topic) => !existing.has(topic));
    if (missing.length > 0) {
      await admin.createTopics({
        topics: missing.map((topic) => ({ topic, numPartitions: partitions })),
        waitForLeaders: true,
      });
    }
  } finally {
    await admin.disconnect();
  }
}

async function produceSample(kafka: Kafka, topic: string, lines: number): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  try {
    const words = SAMPLE.split(' ');
    for (let start = 0; start < lines; start += 500) {
      const messages = [];
      for (let i = start; i < Math.min(lines, start + 500); i++) {
        const line = Array.from({ length: 8 }, (_, j) => words[(i * 7 + j * 3) % words.length]);
        messages.push({ key: String(i), value: line.join(' ') });
      }
      await producer.send({ topic, messages });
    }
  } finally {
    await producer.disconnect();
  }
}
