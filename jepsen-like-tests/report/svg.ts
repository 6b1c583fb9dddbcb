/**
 * Small SVG builders for the HTML report: a run-wide timeline (fault bands over per-second
 * operation counts per workload) and an operation timeline (one row per client process, one bar
 * per operation from invoke to completion). Pure string building; every input is escaped.
 */
import type { NemesisEvent } from '../nemesis/context.js';
import type { OpEvent } from '../runner/history.js';

/** escapeHtml escapes text for HTML and SVG. */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** COLORS of completion types. */
export const COLORS = { ok: '#3c9d4e', fail: '#e0a030', info: '#7a6fd0', pending: '#999' };

/** FaultSpan is a fault's interval on the run clock. */
export interface FaultSpan {
  name: string;
  start: number;
  end: number;
  detail: string;
}

/** faultSpans pairs each nemesis `start` with the next `heal` of the same name. */
export function faultSpans(events: readonly NemesisEvent[], endMs: number): FaultSpan[] {
  const spans: FaultSpan[] = [];
  const open = new Map<string, FaultSpan>();
  for (const event of events) {
    if (event.phase === 'start') {
      const span = { name: event.name, start: event.time, end: endMs, detail: event.detail };
      open.set(event.name, span);
      spans.push(span);
    } else if (event.phase === 'heal') {
      const span = open.get(event.name);
      if (span) span.end = event.time;
      open.delete(event.name);
    }
  }
  return spans;
}

/** PairedOp is an invocation with its completion (or none). */
export interface PairedOp {
  process: number;
  f: string;
  key?: string;
  value: unknown;
  result: unknown;
  type: 'ok' | 'fail' | 'info' | 'pending';
  start: number;
  end: number | null;
}

/** pairOps pairs invokes and completions per process. */
export function pairOps(
  events: readonly (OpEvent & { key?: string; value?: unknown })[],
): PairedOp[] {
  const open = new Map<number, PairedOp>();
  const ops: PairedOp[] = [];
  for (const e of events) {
    if (e.type === 'invoke') {
      const op: PairedOp = {
        process: e.process,
        f: e.f,
        key: e.key,
        value: e.value,
        result: null,
        type: 'pending',
        start: e.time,
        end: null,
      };
      open.set(e.process, op);
      ops.push(op);
    } else {
      const op = open.get(e.process);
      if (!op) continue;
      op.type = e.type;
      op.end = e.time;
      op.result = e.value;
      open.delete(e.process);
    }
  }
  return ops;
}

/** runTimeline draws fault bands above per-second stacked op counts for each workload. */
export function runTimeline(
  spans: readonly FaultSpan[],
  workloads: readonly { name: string; events: readonly OpEvent[] }[],
  endMs: number,
): string {
  const width = 1100;
  const left = 150;
  const seconds = Math.max(1, Math.ceil(endMs / 1000));
  const x = (ms: number): number => left + ((width - left - 10) * ms) / (seconds * 1000);
  const names = [...new Set(spans.map((s) => s.name))];
  const bandHeight = 14;
  const chartHeight = 60;
  const top = names.length * bandHeight + 20;
  const height = top + workloads.length * (chartHeight + 20) + 20;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-size="10">`,
  );
  names.forEach((name, row) => {
    const y = 10 + row * bandHeight;
    out.push(`<text x="4" y="${y + 10}">${escapeHtml(name)}</text>`);
    for (const s of spans.filter((span) => span.name === name)) {
      out.push(
        `<rect x="${x(s.start).toFixed(1)}" y="${y}" width="${Math.max(1, x(s.end) - x(s.start)).toFixed(1)}" ` +
          `height="${bandHeight - 3}" fill="#d9534f" opacity="0.7"><title>${escapeHtml(`${s.name} ${(s.start / 1000).toFixed(1)}-${(s.end / 1000).toFixed(1)} s: ${s.detail}`)}</title></rect>`,
      );
    }
  });
  workloads.forEach((workload, index) => {
    out.push(...countChart(workload, top + index * (chartHeight + 20), chartHeight, seconds, x));
  });
  for (let s = 0; s <= seconds; s += Math.max(1, Math.round(seconds / 20))) {
    out.push(`<text x="${x(s * 1000).toFixed(1)}" y="${height - 4}">${s}s</text>`);
  }
  out.push('</svg>');
  return out.join('\n');
}

function countChart(
  workload: { name: string; events: readonly OpEvent[] },
  top: number,
  height: number,
  seconds: number,
  x: (ms: number) => number,
): string[] {
  const buckets = Array.from({ length: seconds + 1 }, () => ({ ok: 0, fail: 0, info: 0 }));
  for (const e of workload.events) {
    if (e.type === 'invoke') continue;
    const bucket = buckets[Math.min(seconds, Math.floor(e.time / 1000))]!;
    bucket[e.type]++;
  }
  const max = Math.max(1, ...buckets.map((b) => b.ok + b.fail + b.info));
  const out = [
    `<text x="4" y="${top + height / 2}">${escapeHtml(workload.name)} (max ${max}/s)</text>`,
  ];
  buckets.forEach((b, second) => {
    let y = top + height;
    for (const type of ['ok', 'fail', 'info'] as const) {
      const h = (height * b[type]) / max;
      if (h <= 0) continue;
      y -= h;
      const w = Math.max(1, x(1000) - x(0) - 1);
      out.push(
        `<rect x="${x(second * 1000).toFixed(1)}" y="${y.toFixed(1)}" width="${w.toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[type]}"><title>${second}s ${type}: ${b[type]}</title></rect>`,
      );
    }
  });
  return out;
}

/** shortOp names an op compactly for a timeline label: `w 5`, `r 5`, `cas 5>6`. */
export function shortOp(op: PairedOp): string {
  if (op.f === 'read') return `r ${op.type === 'ok' ? JSON.stringify(op.result) : '?'}`;
  if (op.f === 'write') return `w ${JSON.stringify(op.value)}`;
  if (op.f === 'cas' && Array.isArray(op.value)) return `cas ${op.value[0]}>${op.value[1]}`;
  return `${op.f} ${JSON.stringify(op.value)}`;
}

/**
 * opTimeline draws ops (one row per process) between `fromMs` and `toMs`, each labelled with
 * its value; `highlight` adds a mark (a linearization position, or STUCK: outlined in red).
 */
export function opTimeline(
  ops: readonly PairedOp[],
  fromMs: number,
  toMs: number,
  highlight: ReadonlyMap<PairedOp, string> = new Map(),
  rowsMax = 80,
): string {
  const shown = ops.filter((op) => (op.end ?? toMs) >= fromMs && op.start <= toMs);
  const processes = [...new Set(shown.map((op) => op.process))].slice(0, rowsMax);
  const row = new Map(processes.map((p, i) => [p, i]));
  const width = 1100;
  const left = 60;
  const span = Math.max(1, toMs - fromMs);
  const x = (ms: number): number =>
    left + ((width - left - 10) * (Math.min(Math.max(ms, fromMs), toMs) - fromMs)) / span;
  const height = processes.length * 16 + 30;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-size="9">`,
  ];
  processes.forEach((p, i) => out.push(`<text x="2" y="${i * 16 + 20}">p${p}</text>`));
  const labelled = shown.length <= 300;
  for (const op of shown) {
    const r = row.get(op.process);
    if (r === undefined) continue;
    const x0 = x(op.start);
    const x1 = x(op.end ?? toMs);
    const mark = highlight.get(op);
    const stroke = mark === 'STUCK' ? ' stroke="#c00" stroke-width="2"' : '';
    const title =
      `p${op.process} ${op.f} ${JSON.stringify(op.value)} -> ${op.type} ` +
      `${JSON.stringify(op.result)} @${op.start}..${op.end ?? '?'}${mark ? ` [${mark}]` : ''}`;
    out.push(
      `<rect x="${x0.toFixed(1)}" y="${r * 16 + 10}" width="${Math.max(1.5, x1 - x0).toFixed(1)}" ` +
        `height="12" fill="${COLORS[op.type]}" opacity="0.8"${stroke}>` +
        `<title>${escapeHtml(title)}</title></rect>`,
    );
    if (labelled || mark) {
      const text = `${mark ? `${mark === 'STUCK' ? 'STUCK' : `#${mark}`} ` : ''}${shortOp(op)}`;
      out.push(
        `<text x="${(x0 + 1).toFixed(1)}" y="${r * 16 + 19}" font-size="8">${escapeHtml(text)}</text>`,
      );
    }
  }
  out.push(`<text x="${left}" y="${height - 2}">${fromMs.toFixed(0)} ms</text>`);
  out.push(`<text x="${width - 80}" y="${height - 2}">${toMs.toFixed(0)} ms</text>`);
  out.push('</svg>');
  return out.join('\n');
}
