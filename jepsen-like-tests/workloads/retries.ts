/**
 * Retries workload: no write is applied twice. The client retries a write whose attempt timed
 * out, with the same session (client id, seq), to the same or another replica, while the first
 * attempt may still be in flight; the store's session table must apply it once. Workers put
 * unique values to their own keys with a short per-attempt timeout (many retries under faults)
 * and count, per key, the writes acknowledged (ok), indeterminate (info) and refused (fail).
 * Every put adds one to the key's `version`, so after the heal the final read must see
 * ok <= version <= ok + info: more means a write was applied twice (or a refused one applied),
 * less means an acknowledged write was lost; and the value read must be one that was written.
 * History in `retries.jsonl`.
 */
import { join } from 'node:path';
import type { StrataClient } from '../../src/client/index.js';
import { HistoryLog, type OpEvent } from '../runner/history.js';
import {
  FINAL_READS_BUDGET_MS,
  budget,
  connectClients,
  decodeText,
  errorText,
  outcomeOf,
  runWorkers,
} from './clients.js';
import { countEvents } from './register.js';
import type { Workload, WorkloadContext, WorkloadResult, WorkloadTuning } from './types.js';

/** RetryEvent is one put (value: the value written) or final read (value: [value, version]). */
export interface RetryEvent extends OpEvent {
  f: 'put' | 'read';
  key: string;
  value: number | [number | null, number] | null;
}

/** RETRIES_DEFAULTS: a short attempt timeout makes the client retry often. */
export const RETRIES_DEFAULTS: WorkloadTuning & { writesPerKey: number } = {
  workers: 4,
  clients: 1,
  opsMax: 1_000_000,
  thinkMs: 5,
  deadlineMs: 4_000,
  attemptTimeoutMs: 150,
  writesPerKey: 100,
};

const FINAL_READ_ATTEMPTS = 5;

/** KeyTally is what one key should hold. */
interface KeyTally {
  ok: number;
  info: number;
  fail: number;
  written: Set<number>;
}

/** RetriesCheck is the verdict for every key. */
export interface RetriesCheck {
  valid: boolean;
  keys: number;
  writes: number;
  problems: string[];
}

/** checkRetries checks every key's final version and value against its writes. */
export function checkRetries(events: readonly RetryEvent[]): RetriesCheck {
  const tallies = new Map<string, KeyTally>();
  const finals = new Map<string, [number | null, number]>();
  let writes = 0;
  for (const event of events) {
    if (event.f === 'read') {
      if (event.type === 'ok' && Array.isArray(event.value)) finals.set(event.key, event.value);
      continue;
    }
    let tally = tallies.get(event.key);
    if (!tally) tallies.set(event.key, (tally = { ok: 0, info: 0, fail: 0, written: new Set() }));
    if (event.type === 'invoke' && typeof event.value === 'number') {
      tally.written.add(event.value);
      writes++;
    } else if (event.type !== 'invoke') tally[event.type]++;
  }
  const problems: string[] = [];
  for (const [key, tally] of tallies) {
    const final = finals.get(key);
    if (!final) {
      problems.push(`${key}: no final read`);
      continue;
    }
    const [value, version] = final;
    if (version > tally.ok + tally.info) {
      problems.push(
        `${key}: version ${version} > ${tally.ok} ok + ${tally.info} indeterminate writes ` +
          `(${tally.fail} refused): a write was applied twice or a refused write applied`,
      );
    }
    if (version < tally.ok) {
      problems.push(`${key}: version ${version} < ${tally.ok} acknowledged writes (lost writes)`);
    }
    if (tally.ok > 0 && (value === null || !tally.written.has(value))) {
      problems.push(`${key}: final value ${value} was never written`);
    }
  }
  return { valid: problems.length === 0, keys: tallies.size, writes, problems };
}

/** RetriesWorkload drives and checks exactly-once writes. */
export class RetriesWorkload implements Workload {
  readonly name = 'retries';
  private history: HistoryLog<RetryEvent> | null = null;
  private clients: StrataClient[] = [];
  private readonly stopper = new AbortController();
  private loops: Promise<void> = Promise.resolve();
  private processes: number[] = [];
  private readonly keys: string[] = [];
  private nextValue = 1;

  constructor(readonly tuning: typeof RETRIES_DEFAULTS = RETRIES_DEFAULTS) {}

  /** events returns the history so far. */
  events(): readonly RetryEvent[] {
    return this.history?.events ?? [];
  }

  async start(ctx: WorkloadContext): Promise<void> {
    this.history = new HistoryLog(ctx.clock, join(ctx.dir, 'retries.jsonl'));
    this.clients = await connectClients(ctx.endpoints, this.tuning);
    this.processes = Array.from({ length: this.tuning.workers }, () => ctx.processIds.fresh());
    this.loops = runWorkers(this.tuning.workers, this.tuning, this.stopper.signal, (worker, i) =>
      this.put(ctx, worker, i),
    );
  }

  private async put(ctx: WorkloadContext, worker: number, iteration: number): Promise<void> {
    const key = `c/${worker}/${Math.floor(iteration / this.tuning.writesPerKey)}`;
    if (iteration % this.tuning.writesPerKey === 0) this.keys.push(key);
    const value = this.nextValue++;
    const process = this.processes[worker]!;
    const client = this.clients[worker % this.clients.length]!;
    this.history!.record({ process, type: 'invoke', f: 'put', key, value });
    try {
      await client.put(key, String(value));
      this.history!.record({ process, type: 'ok', f: 'put', key, value });
    } catch (error) {
      const type = outcomeOf(error);
      this.history!.record({ process, type, f: 'put', key, value });
      if (type === 'info') this.processes[worker] = ctx.processIds.fresh();
    }
  }

  async stop(): Promise<void> {
    this.stopper.abort();
    await this.loops;
  }

  async finalReads(ctx: WorkloadContext): Promise<void> {
    const client = this.clients[0]!;
    const spent = budget(FINAL_READS_BUDGET_MS);
    for (const key of this.keys) {
      for (let attempt = 0; attempt < FINAL_READ_ATTEMPTS && !spent(); attempt++) {
        const process = ctx.processIds.fresh();
        this.history!.record({ process, type: 'invoke', f: 'read', key, value: null });
        try {
          const kv = await client.get(key);
          const value = kv ? Number(decodeText(kv.value)) : null;
          const read: [number | null, number] = [value, kv ? kv.version : 0];
          this.history!.record({ process, type: 'ok', f: 'read', key, value: read });
          break;
        } catch (error) {
          ctx.log(`retries: final read of ${key} failed: ${errorText(error)}`);
          this.history!.record({ process, type: 'fail', f: 'read', key, value: null });
        }
      }
    }
  }

  async check(): Promise<WorkloadResult> {
    await this.history?.close();
    const events = this.events();
    const verdict = checkRetries(events);
    const counts = countEvents(events);
    return {
      name: this.name,
      valid: verdict.valid,
      opsChecked: verdict.writes,
      counts,
      summary:
        `retries: ${verdict.writes} writes on ${verdict.keys} keys with a ` +
        `${this.tuning.attemptTimeoutMs} ms attempt timeout, ${verdict.problems.length} problems`,
      anomalies: verdict.problems.map((p) => `retries: ${p}`),
      details: verdict,
    };
  }

  async close(): Promise<void> {
    this.stopper.abort();
    for (const client of this.clients) client.close();
    await this.history?.close();
  }
}
