/**
 * StatusSampler reads every running, unpaused node's Admin.Status at a fixed interval during a
 * run, and keeps compact samples (role, term, leader, commit, applied, log bounds per group)
 * for the Raft invariant checks. Each sample names the node's incarnation (how many times it
 * was started), because in-memory values may run ahead of the disk by one unsynced cycle and
 * are only required to be monotonic within one process's life.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { JepsenCluster } from './cluster.js';
import { sleep, type Clock } from './time.js';

/** GroupSample is one group's replica on one node at one time. */
export interface GroupSample {
  group: number;
  role: string;
  term: number;
  leader: number;
  commit: number;
  applied: number;
  first: number;
  last: number;
  voters: number[];
}

/** StatusSample is one node's status at one time. */
export interface StatusSample {
  time: number;
  node: number;
  incarnation: number;
  /** snapshotsInstalled and snapshotsSent count since this incarnation started. */
  snapshotsInstalled: number;
  snapshotsSent: number;
  groups: GroupSample[];
}

/** SAMPLE_ROUNDS_MAX bounds the polling rounds of one run. */
export const SAMPLE_ROUNDS_MAX = 86_400;

/** SAMPLES_MAX bounds the samples kept (older ones are still in the file). */
export const SAMPLES_MAX = 200_000;

/** snapshotTotals sums the snapshots installed and sent over every node's incarnations. */
export function snapshotTotals(samples: readonly StatusSample[]): {
  installed: number;
  sent: number;
} {
  const installed = new Map<string, number>();
  const sent = new Map<string, number>();
  for (const s of samples) {
    const key = `${s.node}/${s.incarnation}`;
    installed.set(key, Math.max(installed.get(key) ?? 0, s.snapshotsInstalled));
    sent.set(key, Math.max(sent.get(key) ?? 0, s.snapshotsSent));
  }
  const sum = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);
  return { installed: sum(installed), sent: sum(sent) };
}

/** StatusSampler polls the cluster until stopped. */
export class StatusSampler {
  readonly samples: StatusSample[] = [];
  private readonly stopper = new AbortController();
  private loop: Promise<void> = Promise.resolve();
  private readonly stream: WriteStream | null;

  constructor(
    private readonly cluster: JepsenCluster,
    private readonly clock: Clock,
    private readonly intervalMs: number,
    path: string | null,
  ) {
    this.stream = path ? createWriteStream(path) : null;
  }

  /** start begins polling (at most SAMPLE_ROUNDS_MAX rounds: a day at 1 s). */
  start(): void {
    this.loop = (async () => {
      for (let round = 0; round < SAMPLE_ROUNDS_MAX && !this.stopper.signal.aborted; round++) {
        await this.sampleOnce();
        await sleep(this.intervalMs, this.stopper.signal);
      }
    })();
  }

  /** sampleOnce reads every node once and records what answered. */
  async sampleOnce(): Promise<StatusSample[]> {
    const ids = this.cluster.ids();
    const incarnations = ids.map((id) => this.cluster.incarnations.get(id) ?? 0);
    const statuses = await Promise.all(
      ids.map((id) => this.cluster.status(id, Math.max(200, this.intervalMs))),
    );
    const taken: StatusSample[] = [];
    statuses.forEach((status, i) => {
      if (!status) return;
      // A node restarted while we waited for its answer: the sample's incarnation is unknown.
      if ((this.cluster.incarnations.get(ids[i]!) ?? 0) !== incarnations[i]) return;
      const sample: StatusSample = {
        time: this.clock.now(),
        node: ids[i]!,
        incarnation: incarnations[i]!,
        snapshotsInstalled: Number(status.snapshotsInstalled ?? 0),
        snapshotsSent: Number(status.snapshotsSent ?? 0),
        groups: (status.groups ?? []).map((g) => ({
          group: Number(g.groupId),
          role: String(g.role),
          term: Number(g.term),
          leader: Number(g.leaderId),
          commit: Number(g.commit),
          applied: Number(g.applied),
          first: Number(g.firstIndex),
          last: Number(g.lastIndex),
          voters: (g.voters ?? []).map(Number),
        })),
      };
      taken.push(sample);
      if (this.samples.length < SAMPLES_MAX) this.samples.push(sample);
      this.stream?.write(JSON.stringify(sample) + '\n');
    });
    return taken;
  }

  /** stop ends polling and closes the file. */
  async stop(): Promise<void> {
    this.stopper.abort();
    await this.loop;
    const stream = this.stream;
    if (stream) await new Promise<void>((resolve) => stream.end(() => resolve()));
  }
}
