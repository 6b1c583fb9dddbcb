/**
 * `strata tasks`: the stream tasks that keep state in the cluster, one row per task with its
 * epoch, last checkpoint (offsets, snapshot index, age, duration, size) and, given the Kafka
 * brokers, its lag (the partitions' high watermarks minus the recorded next offsets).
 */
import {
  TaskClient,
  formatTaskStatus,
  gatherTaskStatus,
  kafkaHighWatermarks,
} from '../client/index.js';
import type { ClientFlags } from './args.js';
import type { CliIo } from './io.js';

/** runTasks prints the task table (or JSON with --json). */
export async function runTasks(
  command: { application: string; brokers: string[]; json: boolean } & ClientFlags,
  io: CliIo,
): Promise<number> {
  const client = await TaskClient.connect({
    endpoints: command.endpoints,
    deadlineMs: command.deadlineMs,
  });
  const kafka = command.brokers.length > 0 ? kafkaHighWatermarks(command.brokers) : null;
  try {
    const rows = await gatherTaskStatus(client, {
      prefix: command.application === '' ? undefined : `${command.application}.`,
      highWatermarks: kafka?.highWatermarks,
    });
    if (command.json) io.out(JSON.stringify(rows, null, 2));
    else io.out(rows.length === 0 ? 'no stream tasks' : formatTaskStatus(rows).trimEnd());
    return 0;
  } finally {
    await kafka?.close();
    client.close();
  }
}
