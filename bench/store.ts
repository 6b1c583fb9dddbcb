/**
 * Store benchmark (a benchmark, never a test): Strata alone, or side by side with etcd on the
 * same machine in the same invocation (`--vs etcd`). Each system runs as 3 members on loopback
 * with fsync on (Strata: ProcessCluster; etcd: Debian's `etcd` with its default durability,
 * installed by bench/ensure-etcd.sh when missing), data in one temporary folder, and is driven
 * through its own client (StrataClient; the `etcd3` package) by the same closed-loop workloads
 * (store-workloads.ts): puts of 100 B at 1/64/256 in flight, of 1 KiB and 64 KiB at 64,
 * linearizable / serializable / (Strata) at-index gets at 64, a 50/50 mix at 64, and (Strata)
 * stream-task checkpoints of 100, 1,000 and 10,000 dirty keys at 1. Every workload runs
 * `--repeat` times per system, the systems alternating (and swapping order every repeat); the
 * report holds medians, Strata/etcd ratios and a latency chart per workload (store-report.ts,
 * store-tables.ts, store-chart.ts) in bench/results/.
 * Everything it starts it stops by process id at the end, and on SIGINT/SIGTERM.
 *
 * Run: npm run bench [-- --vs etcd --repeat 3 --duration 5 --warmup 1 --groups 64
 *                        --ops-max 1000000 --only put-64,get-linearizable-64]
 * Clients and servers share the machine: numbers are for the whole system on one host, and
 * other load on it (see the load-average column) moves them.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { describeFsyncFloor, measureFsyncFloor } from './fsync-floor.js';
import { latencyChartSvg } from './store-chart.js';
import { BenchRunner, type Settings } from './store-runner.js';
import { runInfo, summarize, writeResults, type WorkloadRow } from './store-report.js';
import type { SystemName } from './store-system.js';
import { comparisonTable, errorNotes, markdownReport, markdownTable } from './store-tables.js';
import { KEY_COUNT, WORKLOADS } from './store-workloads.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');
const ENSURE_ETCD = join(REPO_ROOT, 'bench', 'ensure-etcd.sh');
const FSYNC_FLOOR_MS = 2_000;

const DEFAULTS: Readonly<Record<string, number>> = {
  duration: 5,
  warmup: 1,
  groups: 64,
  'ops-max': 1e6,
};

function numberOption(raw: string | undefined, name: string, min: number, max: number): number {
  const value = raw === undefined ? Number(DEFAULTS[name]) : Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new RangeError(`--${name} ${raw} is invalid: allowed range is [${min}, ${max}]`);
  }
  return value;
}

function onlyOption(raw: string | undefined): string[] | null {
  if (raw === undefined) return null;
  const names = raw.split(',').map((name) => name.trim());
  for (const name of names) {
    if (!WORKLOADS.some((w) => w.name === name)) {
      const known = WORKLOADS.map((w) => w.name).join(', ');
      throw new RangeError(`--only ${name} is not a workload (known: ${known})`);
    }
  }
  return names;
}

/** parseSettings reads and checks the command line. */
function parseSettings(argv: string[]): Settings {
  const { values } = parseArgs({
    args: argv,
    options: {
      vs: { type: 'string' },
      repeat: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      groups: { type: 'string' },
      'ops-max': { type: 'string' },
      only: { type: 'string' },
    },
  });
  if (values.vs !== undefined && values.vs !== 'etcd') {
    throw new RangeError(`--vs ${values.vs} is not supported (only: etcd)`);
  }
  const systems: SystemName[] = values.vs === 'etcd' ? ['strata', 'etcd'] : ['strata'];
  const repeatDefault = systems.length > 1 ? '3' : '1';
  return {
    systems,
    repeat: Math.round(numberOption(values.repeat ?? repeatDefault, 'repeat', 1, 20)),
    durationS: numberOption(values.duration, 'duration', 0.1, 3_600),
    warmupS: numberOption(values.warmup, 'warmup', 0, 60),
    groups: Math.round(numberOption(values.groups, 'groups', 1, 4_096)),
    opsMax: Math.round(numberOption(values['ops-max'], 'ops-max', 1, 100_000_000)),
    only: onlyOption(values.only),
  };
}

/** ensureEtcd runs bench/ensure-etcd.sh, which installs etcd-server when etcd is missing. */
function ensureEtcd(): void {
  execFileSync('bash', [ENSURE_ETCD], { stdio: ['ignore', 2, 2] });
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** report prints the tables and writes the result files. */
async function report(
  runner: BenchRunner,
  info: ReturnType<typeof runInfo>,
  rows: WorkloadRow[],
): Promise<void> {
  const summaries = summarize(rows);
  const compare = runner.settings.systems.length === 2;
  const stem = `${compare ? 'compare' : 'store'}-${info.startedAt.replace(/[:.]/g, '-')}`;
  const charts = new Map<string, string>();
  const chartLinks: { workload: string; file: string }[] = [];
  for (const workload of new Set(rows.map((row) => row.workload))) {
    const lines = runner.histograms(workload);
    const runs = Math.max(...summaries.filter((s) => s.workload === workload).map((s) => s.runs));
    const title = `${workload}: latency by percentile (${runs} runs merged, count in legend)`;
    const file = `${stem}-${workload}.svg`;
    charts.set(file, latencyChartSvg(title, lines));
    chartLinks.push({ workload, file });
  }
  const tables = [
    compare ? comparisonTable(summaries, 'strata', 'etcd') : '',
    markdownTable(summaries),
    errorNotes(summaries),
  ];
  process.stdout.write(`\n${tables.filter((t) => t.length > 0).join('\n\n')}\n`);
  const markdown = markdownReport(info, summaries, chartLinks);
  const json = { ...info, summaries, runs: rows };
  const paths = await writeResults(RESULTS_DIR, stem, { json, markdown, charts });
  log(`wrote ${paths[0]}, ${paths[1]} and ${paths.length - 2} charts`);
}

/** main runs the selected workloads on the selected systems and reports them. */
async function main(): Promise<void> {
  const settings = parseSettings(process.argv.slice(2));
  if (settings.systems.includes('etcd')) ensureEtcd();
  const info = runInfo({ ...settings, nodes: 3, keys: KEY_COUNT, valueBytesSmall: 100 }, REPO_ROOT);
  const floor = measureFsyncFloor(tmpdir(), FSYNC_FLOOR_MS);
  info.fsyncFloor = { ...floor, summary: describeFsyncFloor(floor) };
  log(`disk: ${describeFsyncFloor(floor)}`);
  const dir = await mkdtemp(join(tmpdir(), 'strata-bench-'));
  const runner = new BenchRunner(settings, dir, log);
  let interrupted = false;
  const stop = (signal: NodeJS.Signals): void => {
    interrupted = true;
    log(`${signal}: stopping every member and removing ${dir}`);
    void runner
      .cleanup()
      .then(() => rm(dir, { recursive: true, force: true, maxRetries: 3 }))
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let rows: WorkloadRow[];
  try {
    await runner.start();
    info.systems = await runner.describeIdle();
    rows = await runner.runAll();
  } catch (error) {
    if (interrupted) return; // stopped by a signal: stop() exits
    throw error;
  } finally {
    await runner.cleanup();
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  }
  if (interrupted) return;
  await report(runner, info, rows);
}

main().catch((error: unknown) => {
  process.stderr.write(`store bench failed: ${error instanceof Error ? error.stack : error}\n`);
  process.exitCode = 1;
});
