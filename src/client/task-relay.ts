/**
 * The outbox relay of one task instance: after checkpoint `seq` commits, its emitted records are
 * published to Kafka, in seq order, each with the header DEDUP_HEADER = `<taskId>:<seq>:<n>`;
 * once a seq is published, the next checkpoint deletes it from the outbox (the trim rides in the
 * commit, so it is fenced like everything else). After a restore, whatever the outbox still
 * holds is published again first: a record may thus reach Kafka more than once, always with the
 * same id, and a consumer that drops ids it has seen (stream-dedup.ts) reads each exactly once.
 */
import { Backoff } from './backoff.js';
import { decodeOutboxChunk, outboxSeqOf, type OutboxRecord, type TaskKeys } from './task-keys.js';

/** PublishRecord is an outbox record with its id. */
export interface PublishRecord extends OutboxRecord {
  id: string;
}

/** OutputSink publishes records to Kafka (the runtime's producer), in order. */
export interface OutputSink {
  publish(records: readonly PublishRecord[]): Promise<void>;
}

/** OutboxReader reads the outbox chunks at an index (a TaskClient fits). */
export interface OutboxReader {
  scan(
    selection: { prefix: Uint8Array },
    options: { consistency: { atIndex: number } },
  ): Promise<{ key: Uint8Array; value: Uint8Array }[]>;
}

/** PUBLISH_ATTEMPTS_MAX bounds the attempts to publish one seq (about a minute of back-off). */
export const PUBLISH_ATTEMPTS_MAX = 120;

/** recordIds numbers the records of one seq: `<taskId>:<seq>:<n>`. */
export function recordIds(taskId: string, seq: number, records: readonly OutboxRecord[]) {
  return records.map((record, n): PublishRecord => ({ ...record, id: `${taskId}:${seq}:${n}` }));
}

/** Relay publishes a task instance's committed outbox (see the module comment). */
export class Relay {
  /** publishedSeq is the highest seq whose records are all published (0: none). */
  publishedSeq = 0;
  /** failure is set when a seq could not be published (the instance should fail). */
  failure: Error | null = null;
  readonly #taskId: string;
  readonly #sink: OutputSink;
  readonly #stopped: () => boolean;
  #chain: Promise<void> = Promise.resolve();

  constructor(taskId: string, sink: OutputSink, stopped: () => boolean) {
    this.#taskId = taskId;
    this.#sink = sink;
    this.#stopped = stopped;
  }

  /** enqueue publishes seq's records after every seq enqueued before it. */
  enqueue(seq: number, records: readonly OutboxRecord[]): void {
    const withIds = recordIds(this.#taskId, seq, records);
    this.#chain = this.#chain.then(() => this.#publish(seq, withIds));
  }

  /**
   * restore reads what the outbox still holds (at an index >= the snapshot index) and queues
   * it for publishing again, seq by seq. Returns the highest seq found (0: none).
   */
  async restore(reader: OutboxReader, keys: TaskKeys, atIndex: number): Promise<number> {
    const chunks = await reader.scan({ prefix: keys.outbox }, { consistency: { atIndex } });
    const bySeq = new Map<number, OutboxRecord[]>();
    for (const { key, value } of chunks) {
      const seq = outboxSeqOf(keys, key);
      if (!Number.isSafeInteger(seq)) continue;
      const records = bySeq.get(seq) ?? [];
      for (const record of decodeOutboxChunk(value)) records.push(record);
      bySeq.set(seq, records);
    }
    let highest = 0;
    for (const [seq, records] of [...bySeq].sort((a, b) => a[0] - b[0])) {
      this.enqueue(seq, records);
      highest = seq;
    }
    return highest;
  }

  /** flush resolves once everything enqueued so far is published (or failed). */
  flush(): Promise<void> {
    return this.#chain;
  }

  async #publish(seq: number, records: readonly PublishRecord[]): Promise<void> {
    if (this.failure !== null) return;
    const backoff = new Backoff({ baseMs: 50, capMs: 1_000 });
    let last: unknown = null;
    for (let attempt = 0; attempt < PUBLISH_ATTEMPTS_MAX; attempt++) {
      if (this.#stopped()) return;
      try {
        if (records.length > 0) await this.#sink.publish(records);
        this.publishedSeq = Math.max(this.publishedSeq, seq);
        return;
      } catch (error) {
        last = error;
      }
      await new Promise((resolve) => setTimeout(resolve, backoff.nextMs()));
    }
    const detail = last instanceof Error ? last.message : String(last);
    this.failure = new Error(`task ${this.#taskId}: could not publish seq ${seq}: ${detail}`, {
      cause: last,
    });
  }
}
