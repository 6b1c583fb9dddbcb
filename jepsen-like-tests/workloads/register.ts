/**
 * Register workload: per-key registers over many keys in many groups. Workers read
 * (linearizable get), write unique values (put) and compare-and-set (a txn comparing the
 * value, then a put) on a rotating window of keys: each key takes a bounded number of
 * operations, then a fresh key replaces it, which keeps every key's history small enough for
 * an exact linearizability search. After the heal, every key is read once more. The history
 * (`register.jsonl`, the checker's format) is checked by jepsen-like-tests/checker: per key,
 * in worker threads; a key whose search ran out of time is inconclusive, never a pass.
 */
import { availableParallelism } from 'node:os';
import type { StrataClient } from '../../src/client/index.js';
import { checkHistory, type CheckResult, type HistoryEvent, type Value } from '../checker/index.js';
import { HistoryLog } from '../runner/history.js';
import {
  FINAL_READS_BUDGET_MS,
  budget,
  connectClients,
  decodeText,
  outcomeOf,
  runWorkers,
} from './clients.js';
import type { Workload, WorkloadContext, WorkloadResult, WorkloadTuning } from './types.js';
import { join } from 'node:path';

/** RegisterTuning adds the key window to the common tuning. */
export interface RegisterTuning extends WorkloadTuning {
  /** slots is the number of keys in use at once. */
  slots: number;
  /** opsPerKey is how many operations a key takes before it is replaced. */
  opsPerKey: number;
  /** timeLimitMsPerKey bounds the checker's search per key. */
  timeLimitMsPerKey: number;
}

/** REGISTER_DEFAULTS is the tuning of the bounded profile. */
export const REGISTER_DEFAULTS: RegisterTuning = {
  workers: 12,
  clients: 3,
  opsMax: 1_000_000,
  thinkMs: 2,
  deadlineMs: 2_500,
  attemptTimeoutMs: 1_000,
  slots: 10,
  opsPerKey: 150,
  timeLimitMsPerKey: 20_000,
};

const FINAL_READ_ATTEMPTS = 5;
/** CHECKER_WORKERS_MAX bounds the checker's worker threads. */
const CHECKER_WORKERS_MAX = 4;

interface Slot {
  key: string;
  left: number;
}

/** RegisterWorkload drives and checks per-key registers. */
export class RegisterWorkload implements Workload {
  readonly name = 'register';
  private history: HistoryLog<HistoryEvent> | null = null;
  private clients: StrataClient[] = [];
  private readonly stopper = new AbortController();
  private loops: Promise<void> = Promise.resolve();
  private readonly keys: string[] = [];
  private slots: Slot[] = [];
  private readonly lastSeen = new Map<string, number>();
  private processes: number[] = [];
  private nextValue = 1;
  private unreadKeys: string[] = [];
  /** result is the checker's full result, once check ran (for the report). */
  checkResult: CheckResult | null = null;

  constructor(readonly tuning: RegisterTuning = REGISTER_DEFAULTS) {}

  /** events returns the history so far. */
  events(): readonly HistoryEvent[] {
    return this.history?.events ?? [];
  }

  async start(ctx: WorkloadContext): Promise<void> {
    this.history = new HistoryLog(ctx.clock, join(ctx.dir, 'register.jsonl'));
    this.clients = await connectClients(ctx.endpoints, this.tuning);
    this.slots = [];
    for (let i = 0; i < this.tuning.slots; i++) this.slots.push(this.freshSlot());
    this.processes = Array.from({ length: this.tuning.workers }, () => ctx.processIds.fresh());
    this.loops = runWorkers(this.tuning.workers, this.tuning, this.stopper.signal, (worker) =>
      this.step(ctx, worker),
    );
  }

  private freshSlot(): Slot {
    const key = `r/${this.keys.length}`;
    this.keys.push(key);
    return { key, left: this.tuning.opsPerKey };
  }

  private async step(ctx: WorkloadContext, worker: number): Promise<void> {
    const index = Math.floor(ctx.random() * this.slots.length);
    let slot = this.slots[index]!;
    if (slot.left <= 0) slot = this.slots[index] = this.freshSlot();
    slot.left--;
    const client = this.clients[worker % this.clients.length]!;
    const dice = ctx.random();
    const expected = this.lastSeen.get(slot.key);
    const outcome =
      dice < 0.5
        ? await this.read(client, this.processes[worker]!, slot.key)
        : dice < 0.75 || expected === undefined
          ? await this.write(client, this.processes[worker]!, slot.key)
          : await this.cas(client, this.processes[worker]!, slot.key, expected);
    if (outcome === 'info') this.processes[worker] = ctx.processIds.fresh();
  }

  private record(event: Omit<HistoryEvent, 'time'>): void {
    this.history!.record(event);
  }

  private async read(client: StrataClient, process: number, key: string): Promise<string> {
    this.record({ process, type: 'invoke', f: 'read', key, value: null });
    try {
      const kv = await client.get(key);
      const value: Value = kv ? parseValue(decodeText(kv.value)) : null;
      if (typeof value === 'number') this.lastSeen.set(key, value);
      this.record({ process, type: 'ok', f: 'read', key, value });
      return 'ok';
    } catch {
      // A read changes nothing: a failed one is simply dropped by the checker.
      this.record({ process, type: 'fail', f: 'read', key, value: null });
      return 'fail';
    }
  }

  private async write(client: StrataClient, process: number, key: string): Promise<string> {
    const value = this.nextValue++;
    this.record({ process, type: 'invoke', f: 'write', key, value });
    try {
      await client.put(key, String(value));
      this.lastSeen.set(key, value);
      this.record({ process, type: 'ok', f: 'write', key, value });
      return 'ok';
    } catch (error) {
      const type = outcomeOf(error);
      this.record({ process, type, f: 'write', key, value });
      return type;
    }
  }

  private async cas(
    client: StrataClient,
    process: number,
    key: string,
    expected: number,
  ): Promise<string> {
    const next = this.nextValue++;
    const value: [Value, Value] = [expected, next];
    this.record({ process, type: 'invoke', f: 'cas', key, value });
    try {
      const result = await client.txn({
        compare: [{ key, value: String(expected) }],
        success: [{ put: { key, value: String(next) } }],
      });
      if (result.succeeded) this.lastSeen.set(key, next);
      this.record({ process, type: result.succeeded ? 'ok' : 'fail', f: 'cas', key, value });
      return result.succeeded ? 'ok' : 'fail';
    } catch (error) {
      const type = outcomeOf(error);
      this.record({ process, type, f: 'cas', key, value });
      return type;
    }
  }

  async stop(): Promise<void> {
    this.stopper.abort();
    await this.loops;
  }

  async finalReads(ctx: WorkloadContext): Promise<void> {
    const client = this.clients[0]!;
    const pending = [...this.keys];
    const unread: string[] = [];
    const spent = budget(FINAL_READS_BUDGET_MS);
    const readers = Array.from({ length: 8 }, async () => {
      for (let key = pending.pop(); key !== undefined; key = pending.pop()) {
        let done = false;
        for (let attempt = 0; attempt < FINAL_READ_ATTEMPTS && !done && !spent(); attempt++) {
          done = (await this.read(client, ctx.processIds.fresh(), key)) === 'ok';
        }
        if (!done) unread.push(key);
      }
    });
    await Promise.all(readers);
    this.unreadKeys = unread;
  }

  async check(ctx: WorkloadContext): Promise<WorkloadResult> {
    await this.history?.close();
    const events = this.events();
    ctx.log(`register: checking ${events.length} events over ${this.keys.length} keys`);
    const result = await checkHistory([...events], {
      timeLimitMsPerKey: this.tuning.timeLimitMsPerKey,
      workers: Math.max(1, Math.min(CHECKER_WORKERS_MAX, availableParallelism())),
    });
    this.checkResult = result;
    const anomalies = [
      ...result.anomalies.map((a) => `register key ${a.key}: ${a.reason}`),
      ...result.inconclusive.map((i) => `register key ${i.key}: inconclusive: ${i.reason}`),
      ...this.unreadKeys.map((key) => `register key ${key}: no final read succeeded (liveness)`),
    ];
    const valid = this.unreadKeys.length > 0 ? false : result.valid;
    return {
      name: this.name,
      valid,
      opsChecked: result.opCount,
      counts: countEvents(events),
      summary:
        `register: ${result.opCount} ops checked over ${this.keys.length} keys, ` +
        `${result.anomalies.length} non-linearizable, ${result.inconclusive.length} inconclusive`,
      anomalies,
      details: summarizeCheck(result),
    };
  }

  async close(): Promise<void> {
    this.stopper.abort();
    for (const client of this.clients) client.close();
    await this.history?.close();
  }
}

/** parseValue turns a stored decimal string back into the number written. */
function parseValue(text: string): Value {
  const number = Number(text);
  return Number.isFinite(number) && String(number) === text ? number : text;
}

/** countEvents counts invocations and completions of a history. */
export function countEvents(events: readonly { type: string }[]): WorkloadResult['counts'] {
  const counts = { invoked: 0, ok: 0, fail: 0, info: 0 };
  for (const event of events) {
    if (event.type === 'invoke') counts.invoked++;
    else counts[event.type as 'ok' | 'fail' | 'info']++;
  }
  return counts;
}

/** summarizeCheck keeps the parts of a CheckResult worth saving (not every key's result). */
function summarizeCheck(result: CheckResult): unknown {
  const failing = Object.values(result.keys).filter((k) => k.valid !== true);
  const slowest = Object.values(result.keys)
    .sort((a, b) => b.elapsedMs - a.elapsedMs)
    .slice(0, 5)
    .map((k) => ({ key: k.key, opCount: k.opCount, steps: k.steps, elapsedMs: k.elapsedMs }));
  return {
    valid: result.valid,
    opCount: result.opCount,
    droppedOpCount: result.droppedOpCount,
    keyCount: Object.keys(result.keys).length,
    elapsedMs: result.elapsedMs,
    slowestKeys: slowest,
    failingKeys: failing,
  };
}
