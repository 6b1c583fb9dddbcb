/**
 * DedupFilter: the consumer side of exactly-once output. Every record a task publishes carries
 * the header `strata-id: <taskId>:<seq>:<n>` (task-relay.ts), and one task's records reach
 * each output partition in (seq, n) order; a record is published again only after a crash,
 * with its original id, and never ahead of a record it precedes. So a consumer keeps, per
 * (task, topic, partition), the highest (seq, n) seen and drops anything not above it: each
 * record is seen exactly once, in memory bounded by the number of tasks times partitions.
 * Records without the header pass through.
 */
import { DEDUP_HEADER } from './task-keys.js';

/** RecordId is a parsed output record id. */
export interface RecordId {
  taskId: string;
  seq: number;
  n: number;
}

/** parseRecordId reads `<taskId>:<seq>:<n>` (the task id may contain ':'); null if malformed. */
export function parseRecordId(text: string): RecordId | null {
  const last = text.lastIndexOf(':');
  const middle = last <= 0 ? -1 : text.lastIndexOf(':', last - 1);
  if (middle <= 0) return null;
  const seq = Number(text.slice(middle + 1, last));
  const n = Number(text.slice(last + 1));
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(n) || seq < 1 || n < 0) return null;
  return { taskId: text.slice(0, middle), seq, n };
}

/** recordIdOf returns a Kafka record's id header as text (null without one). */
export function recordIdOf(headers: Record<string, unknown> | undefined): string | null {
  const value = headers?.[DEDUP_HEADER];
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  if (Array.isArray(value) && value.length > 0) return recordIdOf({ [DEDUP_HEADER]: value[0] });
  return null;
}

/** DedupFilter drops repeated output records (see the module comment). */
export class DedupFilter {
  readonly #highest = new Map<string, { seq: number; n: number }>();
  /** duplicates counts the records dropped. */
  duplicates = 0;

  /**
   * accept says whether a record read from `topic`/`partition` with id header `id` is new
   * (true) or a repeat (false). A missing or malformed id is accepted.
   */
  accept(topic: string, partition: number, id: string | null): boolean {
    const parsed = id === null ? null : parseRecordId(id);
    if (parsed === null) return true;
    const where = `${parsed.taskId}\u0000${topic}\u0000${partition}`;
    const highest = this.#highest.get(where);
    const isNew =
      highest === undefined ||
      parsed.seq > highest.seq ||
      (parsed.seq === highest.seq && parsed.n > highest.n);
    if (!isNew) {
      this.duplicates++;
      return false;
    }
    this.#highest.set(where, { seq: parsed.seq, n: parsed.n });
    return true;
  }
}
