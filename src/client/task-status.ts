/**
 * What `strata tasks` shows: per task, its record (owner, epoch, last checkpoint's seq, offsets
 * and snapshot index), the last checkpoint's size (bytes, ops, input records), its age, the
 * duration of the checkpoint before it (the client reports it with the next one), and the lag
 * of each input partition (Kafka's high watermark minus the recorded next offset) when a
 * source of high watermarks is given. gatherTaskStatus reads, formatTaskStatus renders a table.
 */
import { Kafka, logLevel } from 'kafkajs';
import type { TaskMeta } from '../store/kv-types.js';
import type { TaskClient } from './task-client.js';

/** PartitionStatus is one input partition of a task. */
export interface PartitionStatus {
  topic: string;
  partition: number;
  nextOffset: number;
  /** lag is the records not yet checkpointed (null when unknown). */
  lag: number | null;
}

/** TaskStatusRow is one task's status. */
export interface TaskStatusRow {
  taskId: string;
  owner: string;
  epoch: number;
  seq: number;
  snapshotIndex: number;
  acquiredIndex: number;
  partitions: PartitionStatus[];
  /** bytes, ops and records describe the last checkpoint (null before the first). */
  bytes: number | null;
  ops: number | null;
  records: number | null;
  /** ageMs is how long ago the last checkpoint was cut, by the client's clock. */
  ageMs: number | null;
  previousDurationMs: number | null;
}

/** HighWatermarks returns a topic's next offset to be written, by partition. */
export type HighWatermarks = (topic: string) => Promise<Map<number, number>>;

/** GatherOptions select the tasks and the lag source. */
export interface GatherOptions {
  /** taskIds lists the tasks to show; default: every task with a record. */
  taskIds?: string[];
  /** prefix keeps the tasks whose id starts with it (e.g. an application name and a dot). */
  prefix?: string;
  highWatermarks?: HighWatermarks;
  /** nowMs is the current time for ages (default Date.now()). */
  nowMs?: number;
}

/** gatherTaskStatus reads every selected task's record (linearizable) and its lag. */
export async function gatherTaskStatus(
  client: TaskClient,
  options: GatherOptions = {},
): Promise<TaskStatusRow[]> {
  const ids = (options.taskIds ?? (await client.listTaskIds())).filter((id) =>
    id.startsWith(options.prefix ?? ''),
  );
  const watermarks = new Map<string, Map<number, number> | null>();
  const rows: TaskStatusRow[] = [];
  for (const taskId of ids) {
    const meta = await client.getCheckpoint(taskId);
    if (meta === null) continue;
    for (const { topic } of meta.offsets) {
      if (watermarks.has(topic) || options.highWatermarks === undefined) continue;
      watermarks.set(topic, await options.highWatermarks(topic).catch(() => null));
    }
    rows.push(rowOf(taskId, meta, watermarks, options.nowMs ?? Date.now()));
  }
  return rows;
}

function rowOf(
  taskId: string,
  meta: TaskMeta,
  watermarks: Map<string, Map<number, number> | null>,
  nowMs: number,
): TaskStatusRow {
  const stats = meta.stats;
  return {
    taskId,
    owner: meta.owner,
    epoch: meta.epoch,
    seq: meta.seq,
    snapshotIndex: meta.snapshotIndex,
    acquiredIndex: meta.acquiredIndex,
    partitions: meta.offsets.map(({ topic, partition, nextOffset }) => {
      const high = watermarks.get(topic)?.get(partition);
      const lag = high === undefined ? null : Math.max(0, high - nextOffset);
      return { topic, partition, nextOffset, lag };
    }),
    bytes: stats?.bytes ?? null,
    ops: stats?.ops ?? null,
    records: stats?.records ?? null,
    ageMs: stats === null ? null : Math.max(0, nowMs - stats.createdAtMs),
    previousDurationMs: stats?.previousDurationMs ?? null,
  };
}

const COLUMNS = [
  'TASK',
  'OWNER',
  'EPOCH',
  'SEQ',
  'SNAPSHOT',
  'OFFSETS',
  'LAG',
  'SIZE',
  'OPS',
  'RECORDS',
  'AGE',
  'PREV-DURATION',
] as const;

/** formatTaskStatus renders rows as an aligned text table (one line per task). */
export function formatTaskStatus(rows: readonly TaskStatusRow[]): string {
  if (rows.length === 0) return 'no tasks\n';
  const table: string[][] = [Array.from(COLUMNS)];
  for (const row of rows) {
    const lags = row.partitions.map((p) => p.lag);
    const lag = lags.length === 0 || lags.some((l) => l === null) ? '-' : String(sum(lags));
    table.push([
      row.taskId,
      row.owner || '-',
      String(row.epoch),
      String(row.seq),
      String(row.snapshotIndex),
      row.partitions.map((p) => `${p.topic}/${p.partition}=${p.nextOffset}`).join(',') || '-',
      lag,
      row.bytes === null ? '-' : formatBytes(row.bytes),
      row.ops === null ? '-' : String(row.ops),
      row.records === null ? '-' : String(row.records),
      row.ageMs === null ? '-' : formatMs(row.ageMs),
      row.previousDurationMs === null ? '-' : formatMs(row.previousDurationMs),
    ]);
  }
  const widths = COLUMNS.map((_, c) => Math.max(...table.map((line) => line[c]!.length)));
  return table
    .map((line) =>
      line
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
    .concat('\n');
}

/** kafkaHighWatermarks returns a HighWatermarks reading from a Kafka cluster, and a close. */
export function kafkaHighWatermarks(brokers: string[]): {
  highWatermarks: HighWatermarks;
  close: () => Promise<void>;
} {
  const admin = new Kafka({ brokers, logLevel: logLevel.NOTHING }).admin();
  let connected: Promise<void> | null = null;
  let topics: Promise<Set<string>> | null = null;
  return {
    highWatermarks: async (topic) => {
      connected ??= admin.connect();
      await connected;
      // An unknown topic would make kafkajs retry for seconds: ask for the names once.
      topics ??= admin.listTopics().then((names) => new Set(names));
      if (!(await topics).has(topic)) return new Map();
      const offsets = await admin.fetchTopicOffsets(topic);
      return new Map(offsets.map((o) => [o.partition, Number(o.high)]));
    },
    close: async () => {
      if (connected !== null) await admin.disconnect();
    },
  };
}

function sum(values: (number | null)[]): number {
  let total = 0;
  for (const value of values) total += value ?? 0;
  return total;
}

/** formatBytes shows a byte count with a binary unit. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** formatMs shows a duration: ms below a second, else seconds, minutes or hours. */
export function formatMs(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}
