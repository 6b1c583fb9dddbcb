/**
 * The HTML report of one run (`report.html` in its folder): verdict, replay command, workloads
 * with their operation counts, anomalies, the faults that ran (and those skipped), a timeline
 * of faults over operations, the Raft invariant and replica checks, and, for each key that is
 * not linearizable, the longest partial linearization the checker found (numbered on a
 * timeline of that key's operations) with the operations stuck after it.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CheckResult, HistoryEvent, KeyResult, Operation } from '../checker/index.js';
import { describeOp } from '../checker/index.js';
import type { NemesisEvent } from '../nemesis/context.js';
import type { OpEvent } from '../runner/history.js';
import type { Workload } from '../workloads/types.js';
import { escapeHtml, faultSpans, opTimeline, pairOps, runTimeline, type PairedOp } from './svg.js';
import type { RunSummary } from './summary.js';

/** FAILING_KEYS_SHOWN bounds the failing keys drawn in detail. */
const FAILING_KEYS_SHOWN = 5;
/** TAIL_OPS_SHOWN: the last ops of a longest prefix drawn on its key's timeline. */
const TAIL_OPS_SHOWN = 12;
/** TABLE_OPS_SHOWN: the last ops of a longest prefix listed in its table. */
const TABLE_OPS_SHOWN = 40;

const STYLE = `body{font-family:sans-serif;margin:20px;max-width:1200px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}
.pass{color:#2a7a3a}.fail{color:#c02020}.inconclusive{color:#b07000}code{background:#f4f4f4}
pre{background:#f7f7f7;padding:8px;overflow-x:auto;font-size:12px}`;

function table(head: string[], rows: (string | number)[][]): string {
  const th = head.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const body = rows
    .map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(String(c))}</td>`).join('')}</tr>`)
    .join('\n');
  return `<table><tr>${th}</tr>\n${body}</table>`;
}

function header(summary: RunSummary): string {
  return [
    `<h1>Strata Jepsen-like run ${escapeHtml(summary.runId)}</h1>`,
    `<p class="${summary.verdict}"><b>${summary.verdict.toUpperCase()}</b> — ` +
      `${summary.anomalies.length} anomalies</p>`,
    table(
      ['profile', 'seed', 'started', 'duration', 'nodes', 'groups', 'mutation'],
      [
        [
          summary.profile,
          summary.seed,
          summary.startedAt,
          `${(summary.durationMs / 1000).toFixed(0)} s`,
          summary.nodes,
          summary.groups,
          summary.mutation ?? 'none',
        ],
      ],
    ),
    `<p>Replay: <code>${escapeHtml(summary.replay)}</code> (or <code>npm run jepsen -- --profile ` +
      `${escapeHtml(summary.profile)} --seed ${summary.seed}</code> to draw the same schedule)</p>`,
  ].join('\n');
}

function workloadSection(summary: RunSummary): string {
  const rows = summary.workloads.map((w) => [
    w.name,
    String(w.valid),
    w.opsChecked,
    w.counts.invoked,
    w.counts.ok,
    w.counts.fail,
    w.counts.info,
    w.summary,
  ]);
  const anomalies = summary.anomalies.length
    ? `<ul>${summary.anomalies.map((a) => `<li>${escapeHtml(a)}</li>`).join('\n')}</ul>`
    : '<p>None.</p>';
  return (
    '<h2>Workloads</h2>' +
    table(['workload', 'valid', 'ops checked', 'invoked', 'ok', 'fail', 'info', 'summary'], rows) +
    `<h2>Anomalies</h2>${anomalies}`
  );
}

function nemesisSection(summary: RunSummary, events: readonly NemesisEvent[]): string {
  const ran = Object.entries(summary.nemeses).map(([name, count]) => [name, count]);
  const skipped = Object.entries(summary.skippedNemeses).map(([name, why]) => [name, why]);
  const log = events
    .map((e) => `${(e.time / 1000).toFixed(2)}s ${e.name} ${e.phase}: ${e.detail}`)
    .join('\n');
  return (
    '<h2>Faults</h2>' +
    table(['nemesis', 'steps'], ran) +
    (skipped.length ? '<p>Not run:</p>' + table(['nemesis', 'why'], skipped) : '') +
    `<details><summary>Nemesis log (${events.length} events)</summary><pre>${escapeHtml(log)}</pre></details>`
  );
}

function checksSection(summary: RunSummary): string {
  const inv = summary.invariants;
  const rep = summary.replicas;
  return (
    '<h2>Raft invariants and replicas</h2>' +
    table(
      ['check', 'valid', 'detail'],
      [
        [
          'election safety, monotonic term/commit/applied',
          String(inv.valid),
          `${inv.samples} status samples, ${inv.termsSeen} (group, term) pairs`,
        ],
        [
          'replicas converge (applied = commit, everywhere)',
          String(rep.converged),
          `${rep.convergeMs} ms`,
        ],
        [
          'replicas agree (serializable read of every group on every replica)',
          String(rep.valid),
          `${rep.groupsCompared} groups, ${rep.keysCompared} keys`,
        ],
        [
          'leaders after the final heal',
          String(summary.leadersAfterHealMs !== null),
          `${summary.leadersAfterHealMs ?? 'never'} ms`,
        ],
        [
          'snapshots (informational)',
          '',
          `${summary.snapshots.installed} installed, ${summary.snapshots.sent} sent`,
        ],
      ],
    ) +
    [...inv.problems, ...rep.problems].map((p) => `<p class="fail">${escapeHtml(p)}</p>`).join('')
  );
}

function opRow(op: Operation, index: number | string): string[] {
  return [String(index), describeOp(op), String(op.id)];
}

function failingKeySection(key: KeyResult, events: readonly HistoryEvent[]): string {
  const ops = pairOps(events.filter((e) => e.key === key.key) as (OpEvent & HistoryEvent)[]);
  const prefix = key.longestLinearizedPrefix ?? [];
  const stuck = key.stuckOps ?? [];
  const find = (op: Operation): PairedOp | undefined =>
    ops.find((p) => p.process === op.process && p.start === op.invokeTime);
  const marks = new Map<PairedOp, string>();
  prefix.forEach((op, i) => {
    const paired = find(op);
    if (paired) marks.set(paired, String(i + 1));
  });
  for (const op of stuck) {
    const paired = find(op);
    if (paired) marks.set(paired, 'STUCK');
  }
  // Draw the end of the prefix and the stuck ops: that is where the history breaks.
  const focus = [...prefix.slice(-TAIL_OPS_SHOWN), ...stuck].map(find).filter((op) => !!op);
  const from = Math.min(...focus.map((op) => op!.start));
  const to = Math.max(...focus.map((op) => op!.end ?? op!.start));
  const omitted = Math.max(0, prefix.length - TABLE_OPS_SHOWN);
  const rows = prefix.map((op, i) => opRow(op, i + 1)).slice(omitted);
  return (
    `<h3>Key <code>${escapeHtml(key.key)}</code>: NOT linearizable</h3>` +
    `<p>${escapeHtml(key.reason ?? '')}. Register value after the prefix: ` +
    `<code>${escapeHtml(JSON.stringify(key.stateAfterPrefix ?? null))}</code></p>` +
    `<p>Longest partial linearization (${prefix.length} of ${key.opCount} ops), numbered ` +
    '(#n) in linearization order; the stuck ops (outlined in red, STUCK) could come next but ' +
    `none can take effect. The timeline shows the last ${TAIL_OPS_SHOWN} ops of the prefix ` +
    'and the stuck ones, with every op of the key around them (green ok, orange fail, purple ' +
    'indeterminate):</p>' +
    opTimeline(ops, from - 1, to + 1, marks) +
    (omitted > 0 ? `<p>(${omitted} earlier ops of the prefix not listed)</p>` : '') +
    table(['#', 'operation', 'op id'], [...rows, ...stuck.map((op) => opRow(op, 'stuck'))])
  );
}

function linearizabilitySection(result: CheckResult | null, events: readonly HistoryEvent[]) {
  if (!result) return '';
  const failing = Object.values(result.keys).filter((k) => k.valid === false);
  const unknown = Object.values(result.keys).filter((k) => k.valid === 'unknown');
  const parts = [
    '<h2>Linearizability (register workload)</h2>',
    `<p>${result.opCount} operations checked over ${Object.keys(result.keys).length} keys ` +
      `(${result.droppedOpCount} dropped: failed ops and indeterminate reads) in ` +
      `${result.elapsedMs.toFixed(0)} ms: ${failing.length} not linearizable, ${unknown.length} ` +
      'inconclusive.</p>',
  ];
  for (const key of failing.slice(0, FAILING_KEYS_SHOWN))
    parts.push(failingKeySection(key, events));
  if (failing.length > FAILING_KEYS_SHOWN)
    parts.push(`<p>... ${failing.length - FAILING_KEYS_SHOWN} more keys</p>`);
  for (const key of unknown)
    parts.push(`<p class="inconclusive">${escapeHtml(`${key.key}: ${key.reason}`)}</p>`);
  return parts.join('\n');
}

function filesSection(summary: RunSummary): string {
  const files = [
    'summary.json',
    'schedule.json',
    'nemesis.jsonl.gz',
    'register.jsonl.gz',
    'set.jsonl.gz',
    'retries.jsonl.gz',
    'status.jsonl.gz',
    'workloads.json',
    'run.log',
    'options.json',
  ];
  const nodes = Array.from({ length: summary.nodes }, (_, i) => `nodes/node-${i + 1}.log`);
  return (
    '<h2>Files</h2><p>' +
    [...files, ...nodes].map((f) => `<a href="${f}">${f}</a>`).join(' · ') +
    '</p>'
  );
}

/** RegisterView is what the report reads from the register workload. */
export interface RegisterView {
  events(): readonly HistoryEvent[];
  checkResult: CheckResult | null;
}

/** renderReport builds the report's HTML. */
export function renderReport(
  summary: RunSummary,
  workloads: readonly Workload[],
  nemesisEvents: readonly NemesisEvent[],
): string {
  const register = workloads.find((w) => w.name === 'register') as RegisterView | undefined;
  const histories = workloads.map((w) => ({
    name: w.name,
    events: (w as unknown as { events?: () => readonly OpEvent[] }).events?.() ?? [],
  }));
  const spans = faultSpans(nemesisEvents, summary.durationMs);
  return [
    `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(summary.runId)}</title>`,
    `<style>${STYLE}</style></head><body>`,
    header(summary),
    workloadSection(summary),
    '<h2>Timeline</h2><p>Faults (red bands; hover for details) over completed operations per ' +
      'second (green ok, orange fail, purple indeterminate).</p>',
    runTimeline(spans, histories, summary.durationMs),
    nemesisSection(summary, nemesisEvents),
    checksSection(summary),
    linearizabilitySection(register?.checkResult ?? null, register?.events() ?? []),
    filesSection(summary),
    '</body></html>',
  ].join('\n');
}

/** writeReport writes `report.html` into the run's folder. */
export async function writeReport(
  dir: string,
  summary: RunSummary,
  workloads: readonly Workload[],
  nemesisEvents: readonly NemesisEvent[],
): Promise<void> {
  await writeFile(join(dir, 'report.html'), renderReport(summary, workloads, nemesisEvents));
}
