/**
 * Operation histories of a run: each workload appends its invoke and completion events to a
 * JSONL file as they happen (so a crashed run still leaves its history) and keeps them in
 * memory for its checker. Every event carries the run's one monotonic clock (`time`, ms).
 * ProcessIds hands out client process ids: a client whose operation ended indeterminate
 * (`info`) retires its id and continues under a fresh one, as the checker requires.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Clock } from './time.js';

/** OpEvent is the common shape of every history event. */
export interface OpEvent {
  process: number;
  type: 'invoke' | 'ok' | 'fail' | 'info';
  f: string;
  time: number;
}

/** HistoryLog<E> records one workload's events. */
export class HistoryLog<E extends OpEvent> {
  readonly events: E[] = [];
  private readonly stream: WriteStream | null;
  private buffered: string[] = [];

  constructor(
    readonly clock: Clock,
    path: string | null,
  ) {
    this.stream = path ? createWriteStream(path) : null;
  }

  /** record stamps `event` with the clock's time and appends it. */
  record(event: Omit<E, 'time'>): E {
    const stamped = { ...event, time: this.clock.now() } as E;
    this.events.push(stamped);
    if (this.stream) {
      this.buffered.push(JSON.stringify(stamped));
      if (this.buffered.length >= 256) this.flush();
    }
    return stamped;
  }

  private flush(): void {
    if (this.buffered.length === 0 || !this.stream) return;
    this.stream.write(this.buffered.join('\n') + '\n');
    this.buffered = [];
  }

  /** close writes what is buffered and closes the file. */
  async close(): Promise<void> {
    this.flush();
    const stream = this.stream;
    if (!stream) return;
    await new Promise<void>((resolve) => stream.end(() => resolve()));
  }
}

/** ProcessIds allocates client process ids, shared by every workload of a run. */
export class ProcessIds {
  private next = 1;

  /** fresh returns a process id never used before. */
  fresh(): number {
    return this.next++;
  }
}

/** OpCounts counts completions by type. */
export interface OpCounts {
  ok: number;
  fail: number;
  info: number;
}

/** countCompletions counts the ok / fail / info completions of a history. */
export function countCompletions(events: readonly OpEvent[]): OpCounts {
  const counts: OpCounts = { ok: 0, fail: 0, info: 0 };
  for (const event of events) if (event.type !== 'invoke') counts[event.type]++;
  return counts;
}
