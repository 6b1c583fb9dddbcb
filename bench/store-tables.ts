/**
 * Markdown for the store benchmark: the per-system table of medians, the comparison table with
 * Strata/etcd ratios (ops/s: higher is better; latency and CPU: lower is better), the error
 * notes and the whole report file with its run description and chart links.
 */
import type { RunInfo, WorkloadRow, WorkloadSummary } from './store-report.js';
import type { SystemName } from './store-system.js';

const ms = (us: number): string => (us / 1_000).toFixed(us < 10_000 ? 2 : 1);
const fixed = (value: number, digits: number): string => value.toFixed(digits);
const count = (value: number): string => Math.round(value).toLocaleString('en-US');
const DASH = '—';

/** ratio renders a / b as "2.31×" (a dash when either is missing or b is 0). */
export function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !(b > 0) || !Number.isFinite(a)) return DASH;
  const value = a / b;
  return `${value.toFixed(value < 10 ? 2 : 1)}×`;
}

/** markdownTable renders the medians, one row per system and workload. */
export function markdownTable(summaries: WorkloadSummary[]): string {
  const header = [
    '| system | workload | in flight | runs | ops/s (median) | ops/s min–max | p50 ms | p90 ms ',
    '| p99 ms | p99.9 ms | max ms | errors | client CPU µs/op | client ELU | server CPU µs/op ',
    '| server cores | fsyncs/op | load avg |',
  ].join('');
  const rule = `|${' --- |'.repeat(18)}`;
  const lines = summaries.map((summary) => {
    const row = summary.median;
    const l = row.latencyUs;
    const cells = [
      row.system,
      row.workload,
      String(row.inFlight),
      String(summary.runs),
      count(row.opsPerSecond),
      `${count(summary.opsPerSecondMin)}–${count(summary.opsPerSecondMax)}`,
      ms(l.p50),
      ms(l.p90),
      ms(l.p99),
      ms(l.p999),
      ms(l.max),
      String(row.errors),
      count(row.clientCpuUsPerOp),
      fixed(row.clientElu, 2),
      count(row.serverCpuUsPerOp),
      fixed(row.serverCores, 2),
      fixed(row.syncsPerOp, 3),
      `${fixed(row.loadAverageBefore, 1)} → ${fixed(row.loadAverageAfter, 1)}`,
    ];
    return `| ${cells.join(' | ')} |`;
  });
  return [header, rule, ...lines].join('\n');
}

/** comparisonTable renders one row per workload: both systems' medians and their ratio. */
export function comparisonTable(
  summaries: WorkloadSummary[],
  a: SystemName,
  b: SystemName,
): string {
  const workloads = [...new Set(summaries.map((s) => s.workload))];
  const find = (system: SystemName, workload: string): WorkloadRow | undefined =>
    summaries.find((s) => s.system === system && s.workload === workload)?.median;
  const pair = (x: string | undefined, y: string | undefined): string =>
    `${x ?? DASH} / ${y ?? DASH}`;
  const header =
    `| workload | ops/s ${a} | ops/s ${b} | ops/s × | p50 ms | p99 ms | p99 × | p99.9 ms ` +
    '| client CPU µs/op | client CPU × | client ELU | server CPU µs/op | server CPU × ' +
    '| errors |';
  const rule = `|${' --- |'.repeat(14)}`;
  const lines = workloads.map((workload) => {
    const x = find(a, workload);
    const y = find(b, workload);
    const cells = [
      workload,
      x ? count(x.opsPerSecond) : DASH,
      y ? count(y.opsPerSecond) : DASH,
      ratio(x?.opsPerSecond, y?.opsPerSecond),
      pair(x && ms(x.latencyUs.p50), y && ms(y.latencyUs.p50)),
      pair(x && ms(x.latencyUs.p99), y && ms(y.latencyUs.p99)),
      ratio(x?.latencyUs.p99, y?.latencyUs.p99),
      pair(x && ms(x.latencyUs.p999), y && ms(y.latencyUs.p999)),
      pair(x && count(x.clientCpuUsPerOp), y && count(y.clientCpuUsPerOp)),
      ratio(x?.clientCpuUsPerOp, y?.clientCpuUsPerOp),
      pair(x && fixed(x.clientElu, 2), y && fixed(y.clientElu, 2)),
      pair(x && count(x.serverCpuUsPerOp), y && count(y.serverCpuUsPerOp)),
      ratio(x?.serverCpuUsPerOp, y?.serverCpuUsPerOp),
      pair(x && String(x.errors), y && String(y.errors)),
    ];
    return `| ${cells.join(' | ')} |`;
  });
  return [header, rule, ...lines].join('\n');
}

/** errorNotes lists each workload's errors by code with the first message (markdown). */
export function errorNotes(summaries: WorkloadSummary[]): string {
  const notes: string[] = [];
  for (const { median: row } of summaries) {
    for (const [code, entry] of Object.entries(row.errorsByCode)) {
      notes.push(
        `- ${row.system} ${row.workload}: ${entry.count} × ${code}: ${entry.firstMessage}`,
      );
    }
  }
  return notes.length === 0 ? 'No errors.' : notes.join('\n');
}

function describeSystems(info: RunInfo): string[] {
  return Object.entries(info.systems).map(([name, facts]) => {
    const text = Object.entries(facts)
      .filter(([key]) => key !== 'pids')
      .map(([key, value]) => {
        const text =
          typeof value === 'number' && !Number.isInteger(value) ? fixed(value, 2) : value;
        return `${key} ${text}`;
      })
      .join(', ');
    return `- ${name}: ${text}.`;
  });
}

/** markdownReport is the whole .md file: run description, tables, errors and charts. */
export function markdownReport(
  info: RunInfo,
  summaries: WorkloadSummary[],
  charts: { workload: string; file: string }[],
): string {
  const settings = Object.entries(info.settings)
    .map(([key, value]) => `${key}=${JSON.stringify(value)}`)
    .join(', ');
  const systems = Object.keys(info.systems) as SystemName[];
  const lines = [
    `# Store benchmark (${systems.join(' vs ')}), ${info.startedAt}`,
    '',
    `Commit ${info.commit}, Node ${info.node}, ${info.cpuCount} × ${info.cpuModel}, ` +
      `${info.memoryGiB} GiB.`,
    `Settings: ${settings}.`,
    info.fsyncFloor ? `Disk: ${String(info.fsyncFloor.summary)}.` : '',
    ...describeSystems(info),
    '3 members on loopback, closed loop, client and servers on the same host; medians over ' +
      'the runs (errors: summed); CPU per successful operation.',
    '',
  ];
  if (systems.length === 2) {
    lines.push('## Comparison (ratio = first / second)', '');
    lines.push(comparisonTable(summaries, systems[0], systems[1]), '');
  }
  lines.push('## Medians', '', markdownTable(summaries), '', errorNotes(summaries), '');
  if (charts.length > 0) {
    lines.push('## Latency by percentile', '');
    for (const chart of charts) lines.push(`![${chart.workload}](${chart.file})`, '');
  }
  return lines.join('\n');
}
