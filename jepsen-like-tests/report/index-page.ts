/**
 * The table over runs: `results/index.html` (one row per run folder holding a summary.json,
 * newest first, each linking to its report) and `results/summary.txt` (their summary lines).
 * Rebuilt after every run.
 */
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { escapeHtml } from './svg.js';
import { summaryLine, type RunSummary } from './summary.js';

/** readSummaries loads every run's summary under `resultsDir` (newest first). */
export async function readSummaries(resultsDir: string): Promise<RunSummary[]> {
  const names = await readdir(resultsDir).catch(() => [] as string[]);
  const summaries: RunSummary[] = [];
  for (const name of names.sort().reverse()) {
    const text = await readFile(join(resultsDir, name, 'summary.json'), 'utf8').catch(() => null);
    if (text) summaries.push(JSON.parse(text) as RunSummary);
  }
  return summaries;
}

/** PRUNED_PROFILES keep only their newest KEPT_RUNS runs (the test suite's own runs). */
export const PRUNED_PROFILES = ['bounded', 'stale-read', 'ack-before-sync'];
/** KEPT_RUNS is how many runs of a pruned profile are kept. */
export const KEPT_RUNS = 10;

/** pruneRuns deletes the oldest runs of the pruned profiles (never a soak). */
export async function pruneRuns(resultsDir: string, summaries: readonly RunSummary[]) {
  const kept = new Map<string, number>();
  const left: RunSummary[] = [];
  for (const summary of summaries) {
    const count = (kept.get(summary.profile) ?? 0) + 1;
    kept.set(summary.profile, count);
    if (PRUNED_PROFILES.includes(summary.profile) && count > KEPT_RUNS) {
      await rm(join(resultsDir, summary.runId), { recursive: true, force: true });
    } else {
      left.push(summary);
    }
  }
  return left;
}

/** updateIndex prunes old test runs and rewrites the index page and summary lines. */
export async function updateIndex(resultsDir: string): Promise<void> {
  const summaries = await pruneRuns(resultsDir, await readSummaries(resultsDir));
  const rows = summaries.map((s) => {
    const ops = s.workloads.map((w) => `${w.name}: ${w.opsChecked}`).join(', ');
    const steps = Object.values(s.nemeses).reduce((a, b) => a + b, 0);
    return (
      `<tr><td><a href="${escapeHtml(s.runId)}/report.html">${escapeHtml(s.runId)}</a></td>` +
      `<td class="${s.verdict}">${s.verdict}</td><td>${s.seed}</td>` +
      `<td>${(s.durationMs / 1000).toFixed(0)} s</td><td>${steps} (${Object.keys(s.nemeses).length} kinds)</td>` +
      `<td>${escapeHtml(ops)}</td><td>${s.anomalies.length}</td><td>${escapeHtml(s.mutation ?? '')}</td></tr>`
    );
  });
  const html =
    '<!doctype html><html><head><meta charset="utf-8"><title>Strata Jepsen-like runs</title>' +
    '<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:3px 8px}' +
    'table{border-collapse:collapse}.pass{color:#2a7a3a}.fail{color:#c02020}' +
    '.inconclusive{color:#b07000}</style></head><body><h1>Strata Jepsen-like runs</h1><table>' +
    '<tr><th>run</th><th>verdict</th><th>seed</th><th>duration</th><th>faults</th>' +
    '<th>ops checked</th><th>anomalies</th><th>mutation</th></tr>\n' +
    rows.join('\n') +
    '</table></body></html>\n';
  await writeFile(join(resultsDir, 'index.html'), html);
  await writeFile(join(resultsDir, 'summary.txt'), summaries.map(summaryLine).join('\n') + '\n');
}
