/**
 * The store benchmark's report: one row per workload (throughput, latency percentiles, errors,
 * client and server CPU per operation, fsyncs per operation), rendered as a markdown table and
 * written with the run's settings and machine to bench/results/store-<timestamp>.json and .md.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { LoadResult } from './store-load.js';
import type { ServerDelta } from './store-probe.js';

/** WorkloadRow is everything measured for one workload, in the units its names say. */
export interface WorkloadRow {
  workload: string;
  inFlight: number;
  ops: number;
  elapsedMs: number;
  opsPerSecond: number;
  latencyUs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  errors: number;
  errorsByCode: Record<string, { count: number; firstMessage: string }>;
  clientCpuUsPerOp: number;
  clientElu: number;
  serverCpuUsPerOp: number;
  serverCpuUsByNode: Record<number, number>;
  /** serverCores is the server CPU time over the elapsed time (cores busy on average). */
  serverCores: number;
  syncsPerOp: number;
  cyclesPerOp: number;
  /** catchUpMs is how long followers took to apply everything after the run. */
  catchUpMs: number;
  loadAverageBefore: number;
  loadAverageAfter: number;
}

/** RunInfo describes the run a report belongs to. */
export interface RunInfo {
  startedAt: string;
  commit: string;
  node: string;
  cpuModel: string;
  cpuCount: number;
  settings: Record<string, unknown>;
  /** idleServerCores is the nodes' CPU use (cores) with the cluster up and no client load. */
  idleServerCores?: number;
}

/** workloadRow builds a row from a closed-loop result and the servers' delta over it. */
export function workloadRow(
  name: string,
  inFlight: number,
  load: LoadResult,
  server: ServerDelta,
  extra: { catchUpMs: number; loadAverageBefore: number },
): WorkloadRow {
  const ops = Math.max(1, load.ops);
  const h = load.histogram;
  return {
    workload: name,
    inFlight,
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
    serverCpuUsByNode: server.cpuUsByNode,
    serverCores: server.cpuUs / 1_000 / load.elapsedMs,
    syncsPerOp: server.syncs / ops,
    cyclesPerOp: server.cycles / ops,
    catchUpMs: extra.catchUpMs,
    loadAverageBefore: extra.loadAverageBefore,
    loadAverageAfter: loadavg()[0],
  };
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
    settings,
  };
}

const ms = (us: number): string => (us / 1_000).toFixed(us < 10_000 ? 2 : 1);
const fixed = (value: number, digits: number): string => value.toFixed(digits);

/** markdownTable renders the rows as a markdown table (latencies in ms, CPU in µs per op). */
export function markdownTable(rows: WorkloadRow[]): string {
  const header = [
    '| workload | in flight | ops/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors ',
    '| client CPU µs/op | client ELU | server CPU µs/op | server cores | fsyncs/op | load avg |',
  ].join('');
  const rule = `|${' --- |'.repeat(15)}`;
  const lines = rows.map((row) => {
    const l = row.latencyUs;
    const cells = [
      row.workload,
      String(row.inFlight),
      Math.round(row.opsPerSecond).toLocaleString('en-US'),
      ms(l.p50),
      ms(l.p90),
      ms(l.p99),
      ms(l.p999),
      ms(l.max),
      String(row.errors),
      Math.round(row.clientCpuUsPerOp).toLocaleString('en-US'),
      fixed(row.clientElu, 2),
      Math.round(row.serverCpuUsPerOp).toLocaleString('en-US'),
      fixed(row.serverCores, 2),
      fixed(row.syncsPerOp, 3),
      `${fixed(row.loadAverageBefore, 1)} → ${fixed(row.loadAverageAfter, 1)}`,
    ];
    return `| ${cells.join(' | ')} |`;
  });
  return [header, rule, ...lines].join('\n');
}

/** errorNotes lists each workload's errors by code with the first message (markdown). */
export function errorNotes(rows: WorkloadRow[]): string {
  const notes: string[] = [];
  for (const row of rows) {
    for (const [code, entry] of Object.entries(row.errorsByCode)) {
      notes.push(`- ${row.workload}: ${entry.count} × ${code}: ${entry.firstMessage}`);
    }
  }
  return notes.length === 0 ? 'No errors.' : notes.join('\n');
}

/** markdownReport is the whole .md file: run description, table and error notes. */
export function markdownReport(info: RunInfo, rows: WorkloadRow[]): string {
  const settings = Object.entries(info.settings)
    .map(([key, value]) => `${key}=${JSON.stringify(value)}`)
    .join(', ');
  return [
    `# Strata store benchmark, ${info.startedAt}`,
    '',
    `Commit ${info.commit}, Node ${info.node}, ${info.cpuCount} × ${info.cpuModel}.`,
    `Settings: ${settings}.`,
    `Idle nodes (leaders elected, no load) used ${(info.idleServerCores ?? NaN).toFixed(2)} cores.`,
    '3 nodes on loopback, fsync per ready cycle, closed loop; CPU per successful operation.',
    '',
    markdownTable(rows),
    '',
    errorNotes(rows),
    '',
  ].join('\n');
}

/** writeResults writes the .json and .md files; returns their paths. */
export async function writeResults(
  resultsDir: string,
  info: RunInfo,
  rows: WorkloadRow[],
): Promise<string[]> {
  await mkdir(resultsDir, { recursive: true });
  const stamp = info.startedAt.replace(/[:.]/g, '-');
  const jsonPath = join(resultsDir, `store-${stamp}.json`);
  const mdPath = join(resultsDir, `store-${stamp}.md`);
  await writeFile(jsonPath, `${JSON.stringify({ ...info, workloads: rows }, null, 2)}\n`);
  await writeFile(mdPath, markdownReport(info, rows));
  return [jsonPath, mdPath];
}
