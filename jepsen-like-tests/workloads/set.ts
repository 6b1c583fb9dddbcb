/**
 * Set workload: workers add unique elements, each as its own key `s/<element>`; each worker
 * adds to one group (workers are spread over all groups). After the heal, one read of the
 * whole prefix (every group, linearizable) must contain every acknowledged add (none lost) and
 * nothing that was never added; adds that ended indeterminate may or may not be there. Then
 * every replica of every group is read on its own (serializable, after convergence): an
 * acknowledged add missing on any replica that hosts its group is a write lost there.
 * History in `set.jsonl`.
 */
import { join } from 'node:path';
import type { StrataClient } from '../../src/client/index.js';
import { HistoryLog, type OpEvent } from '../runner/history.js';
import { sleep } from '../runner/time.js';
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
import type { ReplicaContents } from '../checks/replicas.js';
import type { Workload, WorkloadContext, WorkloadResult, WorkloadTuning } from './types.js';

/** SetEvent is one event of the set history: `add` of an element, or the final `read`. */
export interface SetEvent extends OpEvent {
  f: 'add' | 'read';
  /** add: the element; read: the elements read (on ok). */
  value: number | number[] | null;
}

/** SET_DEFAULTS is the tuning of the bounded profile (workers are spread over the groups). */
export const SET_DEFAULTS: WorkloadTuning = {
  workers: 12,
  clients: 1,
  opsMax: 1_000_000,
  thinkMs: 10,
  deadlineMs: 2_500,
  attemptTimeoutMs: 1_000,
};

const PREFIX = 's/';
const FINAL_READ_ATTEMPTS = 10;

/** SetCheck is the set checker's verdict. */
export interface SetCheck {
  valid: boolean;
  acknowledged: number;
  indeterminate: number;
  read: number;
  lost: number[];
  unexpected: number[];
  recovered: number;
  finalReadOk: boolean;
}

/** checkSet compares the acknowledged, indeterminate and read elements of a set history. */
export function checkSet(events: readonly SetEvent[]): SetCheck {
  const ok = new Set<number>();
  const attempted = new Set<number>();
  const indeterminate = new Set<number>();
  let read: Set<number> | null = null;
  for (const event of events) {
    if (event.f === 'add' && typeof event.value === 'number') {
      if (event.type === 'invoke') attempted.add(event.value);
      if (event.type === 'ok') ok.add(event.value);
      if (event.type === 'info') indeterminate.add(event.value);
    }
    if (event.f === 'read' && event.type === 'ok' && Array.isArray(event.value)) {
      read = new Set(event.value);
    }
  }
  const lost = read ? [...ok].filter((e) => !read.has(e)) : [];
  const unexpected = read ? [...read].filter((e) => !attempted.has(e)) : [];
  const recovered = read ? [...indeterminate].filter((e) => read.has(e)).length : 0;
  return {
    valid: read !== null && lost.length === 0 && unexpected.length === 0,
    acknowledged: ok.size,
    indeterminate: indeterminate.size,
    read: read?.size ?? 0,
    lost: lost.sort((a, b) => a - b),
    unexpected: unexpected.sort((a, b) => a - b),
    recovered,
    finalReadOk: read !== null,
  };
}

/**
 * checkSetReplicas lists, per replica, the acknowledged elements its group should hold but it
 * does not (a write lost on that replica even if the final read was served by another one).
 */
export function checkSetReplicas(
  events: readonly SetEvent[],
  contents: readonly ReplicaContents[],
  groupOf: (key: string) => number,
): string[] {
  const byGroup = new Map<number, number[]>();
  for (const event of events) {
    if (event.f !== 'add' || event.type !== 'ok' || typeof event.value !== 'number') continue;
    const group = groupOf(`${PREFIX}${event.value}`);
    let list = byGroup.get(group);
    if (!list) byGroup.set(group, (list = []));
    list.push(event.value);
  }
  const problems: string[] = [];
  for (const replica of contents) {
    const present = new Set(replica.keys);
    const missing = (byGroup.get(replica.group) ?? []).filter((e) => !present.has(`${PREFIX}${e}`));
    if (missing.length > 0) {
      problems.push(
        `set: ${missing.length} acknowledged adds lost on node ${replica.node} ` +
          `(group ${replica.group}): ${preview(missing.sort((a, b) => a - b))}`,
      );
    }
  }
  return problems;
}

/** SetWorkload drives and checks the set. */
export class SetWorkload implements Workload {
  readonly name = 'set';
  private history: HistoryLog<SetEvent> | null = null;
  private clients: StrataClient[] = [];
  private readonly stopper = new AbortController();
  private loops: Promise<void> = Promise.resolve();
  private processes: number[] = [];
  private nextElement = 0;
  /** waiting[g] holds drawn elements whose key is in group g, for that group's workers. */
  private readonly waiting = new Map<number, number[]>();
  private finalReadError = '';
  private replicaProblems: string[] = [];

  constructor(readonly tuning: WorkloadTuning = SET_DEFAULTS) {}

  /** events returns the history so far. */
  events(): readonly SetEvent[] {
    return this.history?.events ?? [];
  }

  async start(ctx: WorkloadContext): Promise<void> {
    this.history = new HistoryLog(ctx.clock, join(ctx.dir, 'set.jsonl'));
    this.clients = await connectClients(ctx.endpoints, this.tuning);
    this.processes = Array.from({ length: this.tuning.workers }, () => ctx.processIds.fresh());
    this.loops = runWorkers(this.tuning.workers, this.tuning, this.stopper.signal, (worker) =>
      this.add(ctx, worker),
    );
  }

  /**
   * elementFor draws the next element whose key lives in `group`: each worker adds to one
   * group, so a stalled group (its leader stopped) blocks only its own workers.
   */
  private elementFor(client: StrataClient, group: number, groupCount: number): number {
    for (let draws = 0; draws < 1_000 * groupCount; draws++) {
      const queue = this.waiting.get(group);
      if (queue && queue.length > 0) return queue.shift()!;
      const element = this.nextElement++;
      const owner = client.groupOf(`${PREFIX}${element}`);
      const list = this.waiting.get(owner) ?? [];
      list.push(element);
      this.waiting.set(owner, list);
    }
    throw new Error(`no element maps to group ${group}`);
  }

  private async add(ctx: WorkloadContext, worker: number): Promise<void> {
    const client = this.clients[worker % this.clients.length]!;
    const element = this.elementFor(client, (worker % ctx.groupCount) + 1, ctx.groupCount);
    const process = this.processes[worker]!;
    this.history!.record({ process, type: 'invoke', f: 'add', value: element });
    try {
      await client.put(`${PREFIX}${element}`, '1');
      this.history!.record({ process, type: 'ok', f: 'add', value: element });
    } catch (error) {
      const type = outcomeOf(error);
      this.history!.record({ process, type, f: 'add', value: element });
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
    for (let attempt = 0; attempt < FINAL_READ_ATTEMPTS && !spent(); attempt++) {
      const process = ctx.processIds.fresh();
      this.history!.record({ process, type: 'invoke', f: 'read', value: null });
      try {
        const result = await client.range({ prefix: PREFIX, limit: 10_000_000 });
        const elements = result.kvs.map((kv) => Number(decodeText(kv.key).slice(PREFIX.length)));
        this.history!.record({ process, type: 'ok', f: 'read', value: elements });
        break;
      } catch (error) {
        this.finalReadError = errorText(error);
        this.history!.record({ process, type: 'fail', f: 'read', value: null });
        await sleep(500);
      }
    }
    const contents = await ctx.readEveryReplica(PREFIX);
    this.replicaProblems = checkSetReplicas(this.events(), contents, (key) => client.groupOf(key));
  }

  async check(): Promise<WorkloadResult> {
    await this.history?.close();
    const events = this.events();
    const verdict = checkSet(events);
    const anomalies = [
      ...this.replicaProblems,
      ...(verdict.finalReadOk ? [] : [`set: the final read failed: ${this.finalReadError}`]),
      ...(verdict.lost.length > 0
        ? [`set: ${verdict.lost.length} acknowledged adds lost: ${preview(verdict.lost)}`]
        : []),
      ...(verdict.unexpected.length > 0
        ? [
            `set: ${verdict.unexpected.length} never-added elements read: ${preview(verdict.unexpected)}`,
          ]
        : []),
    ];
    return {
      name: this.name,
      valid: verdict.valid && this.replicaProblems.length === 0,
      opsChecked: verdict.acknowledged + verdict.indeterminate,
      counts: countEvents(events),
      summary:
        `set: ${verdict.acknowledged} acknowledged adds, ${verdict.indeterminate} indeterminate ` +
        `(${verdict.recovered} present), ${verdict.read} read, ${verdict.lost.length} lost, ` +
        `${verdict.unexpected.length} unexpected`,
      anomalies,
      details: { ...verdict, replicaProblems: this.replicaProblems },
    };
  }

  async close(): Promise<void> {
    this.stopper.abort();
    for (const client of this.clients) client.close();
    await this.history?.close();
  }
}

/** preview lists the first few numbers of a list. */
export function preview(list: readonly number[], count = 10): string {
  const head = list.slice(0, count).join(', ');
  return list.length > count ? `${head}, ... (${list.length - count} more)` : head;
}
