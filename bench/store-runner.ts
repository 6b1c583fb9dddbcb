/**
 * BenchRunner drives the store benchmark: it starts every selected system (each in its own
 * sub-folder of one temporary folder), measures their idle CPU, then runs each workload
 * `repeat` times per system, alternating the systems and swapping their order every repeat so
 * that drift on the machine falls on both alike. Each run: pre-load small values when the
 * workload reads keys (or, for checkpoints, acquire the stream task once), a warm-up, wait for
 * the followers, read the servers, the measured closed loop, wait for the followers again (their
 * backlog is charged to the run), read the servers, then unmeasured upkeep. Every loop is
 * bounded by count and time; stop() aborts them.
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runClosedLoop } from './store-load.js';
import { LatencyHistogram } from './store-histogram.js';
import { workloadRow, type WorkloadRow } from './store-report.js';
import { EtcdSystem } from './store-etcd.js';
import { StrataSystem } from './store-strata.js';
import { serverDelta, type BenchSystem, type SystemName } from './store-system.js';
import {
  KEYS,
  KEY_COUNT,
  VALUE_BYTES_SMALL,
  WORKLOADS,
  canRun,
  operationOf,
  readsKeys,
  valueOf,
  type Workload,
} from './store-workloads.js';
import type { ChartLine } from './store-chart.js';

/** Settings are the benchmark's checked command-line options. */
export interface Settings {
  systems: SystemName[];
  repeat: number;
  durationS: number;
  warmupS: number;
  groups: number;
  opsMax: number;
  /** only lists the workloads to run (null: all). */
  only: string[] | null;
}

const MEMBERS = 3;
const CLIENT_DEADLINE_MS = 10_000;
const CATCH_UP_TIMEOUT_MS = 60_000;
const PRELOAD_IN_FLIGHT = 256;
const PRELOAD_TIMEOUT_MS = 120_000;
const IDLE_SAMPLE_MS = 2_000;
const SEED_BASE = 0x9e3779b9;

/** BenchRunner owns the systems under test and the measurements of one invocation. */
export class BenchRunner {
  readonly systems: BenchSystem[];
  readonly controller = new AbortController();
  /** merged holds, by "system/workload", the histogram of all its measured runs. */
  private readonly merged = new Map<string, LatencyHistogram>();
  /** smallEverywhere: every key of that system holds a VALUE_BYTES_SMALL value. */
  private readonly smallEverywhere = new Map<SystemName, boolean>();
  private cleanupDone: Promise<void> | null = null;

  constructor(
    readonly settings: Settings,
    readonly dir: string,
    readonly log: (line: string) => void,
  ) {
    const common = { keys: KEYS, clientDeadlineMs: CLIENT_DEADLINE_MS, log };
    this.systems = settings.systems.map((name) =>
      name === 'strata'
        ? new StrataSystem({
            ...common,
            dir: join(dir, 'strata'),
            nodes: MEMBERS,
            groups: settings.groups,
          })
        : new EtcdSystem({ ...common, dir: join(dir, 'etcd'), members: MEMBERS }),
    );
  }

  /** start starts every system, one after the other. */
  async start(): Promise<void> {
    for (const system of this.systems) await system.start(this.controller.signal);
  }

  /** describeIdle describes each system, with its CPU (cores) while nothing runs. */
  async describeIdle(): Promise<Record<string, Record<string, unknown>>> {
    const described: Record<string, Record<string, unknown>> = {};
    for (const system of this.systems) await system.waitApplied(CATCH_UP_TIMEOUT_MS);
    for (const system of this.systems) {
      const before = await system.read();
      const startedMs = performance.now();
      await new Promise((resolve) => setTimeout(resolve, IDLE_SAMPLE_MS));
      const delta = serverDelta(before, await system.read());
      const idleCores = delta.cpuUs / 1_000 / (performance.now() - startedMs);
      this.log(`${system.name} idle: ${idleCores.toFixed(3)} cores, ${delta.syncs} fsyncs`);
      described[system.name] = { ...system.describe(), idleCores };
    }
    return described;
  }

  /** selected lists the workloads to run (each runs on the systems that can run it). */
  private selected(): Workload[] {
    const only = this.settings.only;
    return WORKLOADS.filter((w) => only === null || only.includes(w.name));
  }

  /** runAll runs every selected workload `repeat` times on every system that can run it. */
  async runAll(): Promise<WorkloadRow[]> {
    const rows: WorkloadRow[] = [];
    const workloads = this.selected();
    const { repeat } = this.settings;
    for (let round = 1; round <= repeat; round++) {
      const order = round % 2 === 1 ? this.systems : [...this.systems].reverse();
      for (const workload of workloads) {
        const seed = SEED_BASE + WORKLOADS.indexOf(workload);
        for (const system of order) {
          if (this.controller.signal.aborted) return rows;
          if (!canRun(system, workload)) continue;
          const row = await this.runOnce(system, workload, round, seed);
          // A run cut short by stop() measured the shutdown, not the system: drop it.
          if (this.controller.signal.aborted) return rows;
          rows.push(row);
          this.log(`[${round}/${repeat}] ${summary(row)}`);
        }
      }
    }
    return rows;
  }

  /** preload writes a small value to every key, so that gets find them (not measured). */
  private async preload(system: BenchSystem): Promise<void> {
    if (this.smallEverywhere.get(system.name) === true) return;
    const value = valueOf(VALUE_BYTES_SMALL);
    const result = await runClosedLoop({
      concurrency: PRELOAD_IN_FLIGHT,
      durationMs: PRELOAD_TIMEOUT_MS,
      opsMax: KEY_COUNT,
      signal: this.controller.signal,
      operation: (sequence) => system.put(sequence, value),
    });
    const rate = Math.round((result.ops * 1_000) / result.elapsedMs);
    this.log(`${system.name}: preloaded ${result.ops} keys (${rate}/s)`);
    if (result.errors.total > 0) {
      this.log(`preload errors (gets of those keys will fail): ${JSON.stringify(result.errors)}`);
    }
    await system.housekeep();
    this.smallEverywhere.set(system.name, true);
  }

  /** runOnce measures one workload once on one system. */
  private async runOnce(
    system: BenchSystem,
    w: Workload,
    round: number,
    seed: number,
  ): Promise<WorkloadRow> {
    const { durationS, warmupS, opsMax } = this.settings;
    const signal = this.controller.signal;
    if (readsKeys(w)) await this.preload(system);
    if (w.kind === 'checkpoint') await system.acquireTask?.(signal);
    if (w.kind === 'put' && w.valueBytes !== VALUE_BYTES_SMALL) {
      this.smallEverywhere.set(system.name, false);
    }
    const concurrency = w.inFlight;
    if (warmupS > 0) {
      const operation = operationOf(system, w, seed ^ 0x5eed);
      await runClosedLoop({ concurrency, durationMs: warmupS * 1_000, opsMax, signal, operation });
    }
    await system.waitApplied(CATCH_UP_TIMEOUT_MS);
    const loadAverageBefore = loadavg()[0];
    const before = await system.read();
    const operation = operationOf(system, w, seed);
    const durationMs = durationS * 1_000;
    const load = await runClosedLoop({ concurrency, durationMs, opsMax, signal, operation });
    const catchUpMs = await system.waitApplied(CATCH_UP_TIMEOUT_MS);
    const delta = serverDelta(before, await system.read());
    await system.housekeep();
    this.histogram(system.name, w.name).merge(load.histogram);
    const context = { system: system.name, workload: w.name, repeat: round, catchUpMs };
    const shape = { inFlight: w.inFlight, valueBytes: w.valueBytes, loadAverageBefore };
    return workloadRow({ ...context, ...shape }, load, delta);
  }

  private histogram(system: SystemName, workload: string): LatencyHistogram {
    const key = `${system}/${workload}`;
    let histogram = this.merged.get(key);
    if (!histogram) {
      histogram = new LatencyHistogram();
      this.merged.set(key, histogram);
    }
    return histogram;
  }

  /** histograms returns each system's merged histogram of `workload` (systems that ran it). */
  histograms(workload: string): ChartLine[] {
    return this.systems
      .filter((system) => this.merged.has(`${system.name}/${workload}`))
      .map((system) => ({ label: system.name, histogram: this.histogram(system.name, workload) }));
  }

  /** cleanup aborts the loops and stops every system by process id (idempotent). */
  cleanup(): Promise<void> {
    this.cleanupDone ??= (async () => {
      this.controller.abort();
      const results = await Promise.allSettled(this.systems.map((system) => system.close()));
      for (const result of results) {
        if (result.status === 'rejected') this.log(`cleanup failed: ${String(result.reason)}`);
      }
    })();
    return this.cleanupDone;
  }
}

function summary(row: WorkloadRow): string {
  const l = row.latencyUs;
  return (
    `${row.system} ${row.workload}: ${Math.round(row.opsPerSecond)} ops/s, ` +
    `p50 ${(l.p50 / 1e3).toFixed(2)} ms, p99 ${(l.p99 / 1e3).toFixed(2)} ms, ` +
    `${row.errors} errors, client ${Math.round(row.clientCpuUsPerOp)} µs/op, ` +
    `server ${Math.round(row.serverCpuUsPerOp)} µs/op, load ${row.loadAverageBefore.toFixed(1)}`
  );
}
