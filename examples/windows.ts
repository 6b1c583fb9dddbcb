/**
 * Windowed aggregation: per key (a sensor), sliding event-time windows with count, sum and
 * average, and a time-decayed EWMA, all kept in Strata. Input records carry the key, a number
 * as text, and the event time as the Kafka timestamp; they may arrive out of order.
 *
 * Windows are `sizeMs` long and start every `slideMs` (a record falls in sizeMs / slideMs
 * windows). The task's watermark is the highest event time seen minus `latenessMs`; a window
 * whose end is at or below the watermark is final: it is emitted once to the output topic and
 * deleted from the state. A record older than the watermark is late: it is counted, not used.
 * State keys (under the task's `{task:<id>}/s/`):
 *   wm                       the watermark (ms, decimal)
 *   late                     the number of late records
 *   w/<end hex16>/<key>      an open window: "count sum" (the end first: expiry is one range)
 *   e/<key>                  the EWMA: "value eventTime"
 * Everything the task writes and emits commits with its checkpoint, so results are exact and
 * each final window is emitted once, through crashes.
 *
 * Run it against the dev cluster and the local broker: `npm run example -- windows`.
 */
import { Kafka, logLevel } from 'kafkajs';
import { DedupFilter, recordIdOf } from '../src/client/stream-dedup.js';
import { StreamTaskRuntime } from '../src/client/task-runtime.js';
import type { InputRecord, StreamTask, TaskContext } from '../src/client/task-types.js';
import { ensureTopics } from './wordcount.js';

const decoder = new TextDecoder();

/** WindowOptions shape the windows. */
export interface WindowOptions {
  sizeMs: number;
  slideMs: number;
  latenessMs: number;
  /** ewmaTauMs is the EWMA's time constant: a reading's weight halves every tau * ln 2. */
  ewmaTauMs: number;
  outputTopic: string;
}

/** WindowResult is what the task emits for a final window (as JSON). */
export interface WindowResult {
  key: string;
  start: number;
  end: number;
  count: number;
  sum: number;
  average: number;
  /** ewma is the key's EWMA when the window was closed. */
  ewma: number | null;
}

/** windowsOf lists the ends of the windows an event time falls in, ascending. */
export function windowsOf(eventTime: number, sizeMs: number, slideMs: number): number[] {
  const ends: number[] = [];
  // Windows are [end - size, end) with end a multiple of slide.
  const firstEnd = Math.floor(eventTime / slideMs) * slideMs + slideMs;
  for (let end = firstEnd; end - sizeMs <= eventTime; end += slideMs) ends.push(end);
  return ends;
}

/** ewmaStep folds a reading at `time` into an EWMA last updated at `lastTime`. */
export function ewmaStep(
  previous: { value: number; time: number } | null,
  value: number,
  time: number,
  tauMs: number,
): { value: number; time: number } {
  if (previous === null) return { value, time };
  const dt = Math.max(0, time - previous.time);
  const alpha = 1 - Math.exp(-dt / tauMs);
  return {
    value: previous.value + alpha * (value - previous.value),
    time: Math.max(time, previous.time),
  };
}

const text = (bytes: Uint8Array | null): string => (bytes === null ? '' : decoder.decode(bytes));
const windowKey = (end: number, key: string): string =>
  `w/${end.toString(16).padStart(16, '0')}/${key}`;

/** windowTask is the windowed aggregation task (see the module comment). */
export function windowTask(options: WindowOptions): StreamTask {
  return {
    async process(record, ctx) {
      const key = text(record.key);
      const value = Number(text(record.value));
      if (key === '' || !Number.isFinite(value))
        throw new Error(`bad reading '${text(record.value)}'`);
      const watermark = Number(text(await ctx.state.get('wm')) || '-1');
      const eventTime = record.timestamp;
      if (eventTime < watermark) {
        ctx.state.put('late', String(Number(text(await ctx.state.get('late')) || '0') + 1));
        return;
      }
      await addToWindows(ctx, key, value, eventTime, options);
      await updateEwma(ctx, key, value, eventTime, options);
      const next = Math.max(watermark, eventTime - options.latenessMs);
      if (next > watermark) {
        ctx.state.put('wm', String(next));
        await expireWindows(ctx, next, options);
      }
    },
  };
}

async function addToWindows(
  ctx: TaskContext,
  key: string,
  value: number,
  time: number,
  options: WindowOptions,
) {
  for (const end of windowsOf(time, options.sizeMs, options.slideMs)) {
    const name = windowKey(end, key);
    const [count, sum] = (text(await ctx.state.get(name)) || '0 0').split(' ').map(Number);
    ctx.state.put(name, `${count! + 1} ${sum! + value}`);
  }
}

async function updateEwma(
  ctx: TaskContext,
  key: string,
  value: number,
  time: number,
  options: WindowOptions,
) {
  const stored = text(await ctx.state.get(`e/${key}`));
  const previous =
    stored === ''
      ? null
      : { value: Number(stored.split(' ')[0]), time: Number(stored.split(' ')[1]) };
  const next = ewmaStep(previous, value, time, options.ewmaTauMs);
  ctx.state.put(`e/${key}`, `${next.value} ${next.time}`);
}

/** expireWindows emits and deletes every window ending at or below the watermark. */
async function expireWindows(ctx: TaskContext, watermark: number, options: WindowOptions) {
  const end = `w/${(watermark + 1).toString(16).padStart(16, '0')}`;
  for (const entry of await ctx.state.range({ start: 'w/', end })) {
    const name = decoder.decode(entry.key);
    const [, endHex, key] = /^w\/([0-9a-f]{16})\/(.*)$/s.exec(name) ?? [];
    if (endHex === undefined || key === undefined) continue;
    const [count, sum] = decoder.decode(entry.value).split(' ').map(Number);
    const ewma = text(await ctx.state.get(`e/${key}`));
    const windowEnd = parseInt(endHex, 16);
    const result: WindowResult = {
      key,
      start: windowEnd - options.sizeMs,
      end: windowEnd,
      count: count!,
      sum: sum!,
      average: sum! / count!,
      ewma: ewma === '' ? null : Number(ewma.split(' ')[0]),
    };
    ctx.emit(options.outputTopic, { key, value: JSON.stringify(result) });
    ctx.state.delete(name);
  }
}

/** WindowsRunOptions configure the example run. */
export interface WindowsRunOptions {
  brokers: string[];
  endpoints: string[];
  sensors?: number;
  readings?: number;
  runMs?: number;
}

/** runWindows produces sensor readings, runs the task and prints the final windows. */
export async function runWindows(options: WindowsRunOptions): Promise<void> {
  const input = 'example-readings';
  const output = 'example-windows';
  const kafka = new Kafka({ brokers: options.brokers, logLevel: logLevel.NOTHING });
  await ensureTopics(kafka, [input, output], 4);
  await produceReadings(kafka, input, options.sensors ?? 4, options.readings ?? 4_000);
  const runtime = new StreamTaskRuntime({
    application: 'example-windows',
    topics: [input],
    task: windowTask({
      sizeMs: 10_000,
      slideMs: 2_000,
      latenessMs: 3_000,
      ewmaTauMs: 5_000,
      outputTopic: output,
    }),
    kafka: { brokers: options.brokers },
    strata: { endpoints: options.endpoints },
    checkpoint: { intervalMs: 1_000 },
  });
  await runtime.start();
  await new Promise((resolve) => setTimeout(resolve, options.runMs ?? 12_000));
  await runtime.stop();
  await printResults(kafka, output, 12);
}

async function produceReadings(kafka: Kafka, topic: string, sensors: number, readings: number) {
  const producer = kafka.producer();
  await producer.connect();
  try {
    const start = Date.now() - readings * 50;
    const messages = [];
    for (let i = 0; i < readings; i++) {
      const sensor = `sensor-${i % sensors}`;
      const jitter = ((i * 7919) % 2_000) - 1_000; // out of order by up to a second
      const eventTime = start + i * 50 + jitter;
      const value = 20 + 5 * Math.sin(i / 50) + (i % sensors);
      messages.push({ key: sensor, value: value.toFixed(2), timestamp: String(eventTime) });
    }
    for (let at = 0; at < messages.length; at += 500) {
      await producer.send({ topic, messages: messages.slice(at, at + 500) });
    }
  } finally {
    await producer.disconnect();
  }
}

async function printResults(kafka: Kafka, topic: string, max: number): Promise<void> {
  const consumer = kafka.consumer({ groupId: `example-windows-print-${Date.now()}` });
  const filter = new DedupFilter();
  let printed = 0;
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      if (!filter.accept(topic, partition, recordIdOf(message.headers)) || printed >= max) return;
      printed++;
      console.log(message.value?.toString());
    },
  });
  await new Promise((resolve) => setTimeout(resolve, 4_000));
  await consumer.disconnect();
  console.log(`(first ${printed} final windows shown; the rest are in topic ${topic})`);
}

/** readingRecord builds an input record (for tests). */
export function readingRecord(
  offset: number,
  key: string,
  value: number,
  eventTime: number,
): InputRecord {
  const encoder = new TextEncoder();
  return {
    topic: 'readings',
    partition: 0,
    offset,
    key: encoder.encode(key),
    value: encoder.encode(String(value)),
    timestamp: eventTime,
    headers: {},
  };
}
