/**
 * The store benchmark's report: one row per run (system × workload × repeat: throughput,
 * latency percentiles, errors, client and server CPU per operation, fsyncs per operation), the
 * medians over the repeats, a comparison table with the Strata/etcd ratios, markdown tables and
 * the files in bench/results/: <stem>.json (every run), <stem>.md and one SVG chart per workload.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import type { LoadResult } from './store-load.js';
import type { ServerDelta, SystemName } from './store-system.js';

/** WorkloadRow is everything measured in one run, in the units its names say. */
export interface WorkloadRow {
  system: SystemName;
  workload: string;
  /** repeat numbers the runs of one workload on one system from 1. */
  repeat: number;
  inFlight: number;
  valueBytes: number;
  ops: number;
  elapsedMs: number;
  opsPerSecond: number;
  latencyUs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  errors: number;
  errorsByCode: Record<string, { count: number; firstMessage: string }>;
  clientCpuUsPerOp: number;
  clientElu: number;
  serverCpuUsPerOp: number;
  serverCpuUsByMember: Record<string, number>;
  /** serverCores is the server CPU time over the elapsed time (cores busy on average). */
  serverCores: number;
  syncsPerOp: number;
  /** cyclesPerOp is Strata's ready cycles per operation (null for etcd). */
  cyclesPerOp: number | null;
  /** catchUpMs is how long followers took to apply everything after the run. */
  catchUpMs: number;
  loadAverageBefore: number;
  loadAverageAfter: number;
}

/** WorkloadSummary is one workload on one system over its repeats: medians and spread. */
export interface WorkloadSummary {
  system: SystemName;
  workload: string;
  runs: number;
  /** median holds the median of every number over the runs (errors: their sum). */
  median: WorkloadRow;
  opsPerSecondMin: number;
  opsPerSecondMax: number;
}

/** RunInfo describes the run a report belongs to. */
export interface RunInfo {
  startedAt: string;
  commit: string;
  node: string;
  cpuModel: string;
  cpuCount: number;
  memoryGiB: number;
  settings: Record<string, unknown>;
  /** fsyncFloor is the disk's append+fsync cost (fsync-floor.ts), measured before the run. */
  fsyncFloor?: Record<string, unknown>;
  /** systems describes each system under test, with its idle CPU (cores, no load). */
  systems: Record<string, Record<string, unknown>>;
}

/** RunContext is what the runner measured around a run besides the load itself. */
export interface RunContext {
  system: SystemName;
  workload: string;
  repeat: number;
  inFlight: number;
  valueBytes: number;
  catchUpMs: number;
  loadAverageBefore: number;
}

/** workloadRow builds a row from a closed-loop result and the servers' delta over it. */
export function workloadRow(run: RunContext, load: LoadResult, server: ServerDelta): WorkloadRow {
  const ops = Math.max(1, load.ops);
  const h = load.histogram;
  return {
    system: run.system,
    workload: run.workload,
    repeat: run.repeat,
    inFlight: run.inFlight,
    valueBytes: run.valueBytes,
    ops: load.ops,
    elapsedMs: load.elapsedMs,
    opsPerSecond: (load.ops * 1_000) / load.elapsedMs,
    latencyUs: {
      p50: h.percentileUs(50),
      p90: h.percentileUs(90),
      p99: h.percentileUs(99),
      p999: h.percentileUs(99.9),
      max: h.maxUs,
      mean: h.meanUs(),
    },
    errors: load.errors.total,
    errorsByCode: load.errors.toJSON(),
    clientCpuUsPerOp: load.clientCpuUs / ops,
    clientElu: load.clientElu,
    serverCpuUsPerOp: server.cpuUs / ops,
    serverCpuUsByMember: server.cpuUsByMember,
    serverCores: server.cpuUs / 1_000 / load.elapsedMs,
    syncsPerOp: server.syncs / ops,
    cyclesPerOp: server.cycles === null ? null : server.cycles / ops,
    catchUpMs: run.catchUpMs,
    loadAverageBefore: run.loadAverageBefore,
    loadAverageAfter: loadavg()[0],
  };
}

/** median is the middle value (the mean of the two middle ones for an even count). */
export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

type NumberKey = {
  [K in keyof WorkloadRow]: WorkloadRow[K] extends number ? K : never;
}[keyof WorkloadRow];

const MEDIAN_KEYS: NumberKey[] = [
  'ops',
  'elapsedMs',
  'opsPerSecond',
  'clientCpuUsPerOp',
  'clientElu',
  'serverCpuUsPerOp',
  'serverCores',
  'syncsPerOp',
  'catchUpMs',
  'loadAverageBefore',
  'loadAverageAfter',
];

/** medianRow combines the runs of one workload on one system: medians, errors summed. */
export function medianRow(rows: WorkloadRow[]): WorkloadRow {
  const row: WorkloadRow = structuredClone(rows[0]);
  for (const key of MEDIAN_KEYS) row[key] = median(rows.map((r) => r[key]));
  for (const key of Object.keys(row.latencyUs) as (keyof WorkloadRow['latencyUs'])[]) {
    row.latencyUs[key] = median(rows.map((r) => r.latencyUs[key]));
  }
  for (const member of Object.keys(row.serverCpuUsByMember)) {
    row.serverCpuUsByMember[member] = median(rows.map((r) => r.serverCpuUsByMember[member] ?? 0));
  }
  const cycles = rows.map((r) => r.cyclesPerOp).filter((c): c is number => c !== null);
  row.cyclesPerOp = cycles.length === 0 ? null : median(cycles);
  row.repeat = 0;
  row.errors = rows.reduce((sum, r) => sum + r.errors, 0);
  row.errorsByCode = {};
  for (const r of rows) {
    for (const [code, entry] of Object.entries(r.errorsByCode)) {
      const merged = row.errorsByCode[code];
      if (merged) merged.count += entry.count;
      else row.errorsByCode[code] = { ...entry };
    }
  }
  return row;
}

/** summarize groups the runs by system and workload (in order of first run). */
export function summarize(rows: WorkloadRow[]): WorkloadSummary[] {
  const groups = new Map<string, WorkloadRow[]>();
  for (const row of rows) {
    const key = `${row.system}/${row.workload}`;
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  return [...groups.values()].map((runs) => ({
    system: runs[0].system,
    workload: runs[0].workload,
    runs: runs.length,
    median: medianRow(runs),
    opsPerSecondMin: Math.min(...runs.map((r) => r.opsPerSecond)),
    opsPerSecondMax: Math.max(...runs.map((r) => r.opsPerSecond)),
  }));
}

/** runInfo describes this machine and checkout. */
export function runInfo(settings: Record<string, unknown>, repoRoot: string): RunInfo {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: repoRoot,
      encoding: 'utf8',
    }).trim();
  } catch {
    // not a git checkout: keep 'unknown'
  }
  return {
    startedAt: new Date().toISOString(),
    commit,
    node: process.version,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cpuCount: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    settings,
    systems: {},
  };
}

/** writeResults writes <stem>.json, <stem>.md and the charts; returns the paths. */
export async function writeResults(
  resultsDir: string,
  stem: string,
  files: { json: unknown; markdown: string; charts: Map<string, string> },
): Promise<string[]> {
  await mkdir(resultsDir, { recursive: true });
  const jsonPath = join(resultsDir, `${stem}.json`);
  const mdPath = join(resultsDir, `${stem}.md`);
  await writeFile(jsonPath, `${JSON.stringify(files.json, null, 2)}\n`);
  await writeFile(mdPath, files.markdown);
  const paths = [jsonPath, mdPath];
  for (const [name, svg] of files.charts) {
    const path = join(resultsDir, name);
    await writeFile(path, svg);
    paths.push(path);
  }
  return paths;
}
