/**
 * latencyChartSvg draws one workload's latency distribution as a small self-contained SVG (no
 * chart library): latency (log scale, ms) against percentile, on the usual "nines" axis where
 * 90%, 99%, 99.9% and 99.99% are equally spaced, one line per system. Each line is the merged
 * histogram of all repeats of that system, so the tail shows every run's worst moments.
 */
import type { LatencyHistogram } from './store-histogram.js';

/** ChartLine is one system's distribution. */
export interface ChartLine {
  label: string;
  histogram: LatencyHistogram;
}

const WIDTH = 720;
const HEIGHT = 400;
const LEFT = 64;
const RIGHT = 150;
const TOP = 40;
const BOTTOM = 48;
const STEPS = 240;
/** NINES_MAX is the right edge: 4 nines is the 99.99th percentile. */
const NINES_MAX = 4;
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];
const MANTISSAS = [1, 2, 5];
const NINES_LABELS = ['0%', '90%', '99%', '99.9%', '99.99%'];

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** ninesOf is how far along the nines axis a line can go with `count` samples. */
function ninesOf(count: number): number {
  return Math.max(0, Math.min(NINES_MAX, Math.log10(Math.max(1, count))));
}

/** curve samples the percentile curve of a histogram: [nines, latency ms] points. */
function curve(histogram: LatencyHistogram): [number, number][] {
  const points: [number, number][] = [];
  const nines = ninesOf(histogram.count);
  for (let step = 0; step <= STEPS && histogram.count > 0; step++) {
    const x = (nines * step) / STEPS;
    const percent = 100 * (1 - 10 ** -x);
    points.push([x, Math.max(0.001, histogram.percentileUs(percent) / 1_000)]);
  }
  return points;
}

/** steps125 lists the 1-2-5 values from 1 µs to 1,000 s, in ms. */
const STEPS_125: readonly number[] = Array.from({ length: 7 * 3 }, (_, i) =>
  Number((MANTISSAS[i % 3] * 10 ** (Math.floor(i / 3) - 3)).toPrecision(1)),
);

/** rangeMs widens [min, max] to the 1-2-5 steps just outside it. */
function rangeMs(minMs: number, maxMs: number): { lowMs: number; highMs: number } {
  const below = STEPS_125.filter((step) => step <= minMs);
  const above = STEPS_125.filter((step) => step >= maxMs * 1.02);
  const lowMs = below.length > 0 ? below[below.length - 1] : STEPS_125[0];
  const highMs = above.length > 0 ? above[0] : STEPS_125[STEPS_125.length - 1];
  return { lowMs, highMs: highMs > lowMs ? highMs : lowMs * 10 };
}

function axes(
  x: (nines: number) => number,
  y: (ms: number) => number,
  range: { lowMs: number; highMs: number },
): string[] {
  const parts: string[] = [];
  const bottom = HEIGHT - BOTTOM;
  for (let nines = 0; nines <= NINES_MAX; nines++) {
    const label = NINES_LABELS[nines];
    const px = x(nines).toFixed(1);
    parts.push(`<line x1="${px}" y1="${TOP}" x2="${px}" y2="${bottom}" stroke="#ddd"/>`);
    parts.push(`<text x="${px}" y="${bottom + 16}" text-anchor="middle">${label}</text>`);
  }
  for (const tick of STEPS_125.filter((t) => t >= range.lowMs && t <= range.highMs)) {
    const py = y(tick).toFixed(1);
    const right = WIDTH - RIGHT;
    parts.push(`<line x1="${LEFT}" y1="${py}" x2="${right}" y2="${py}" stroke="#eee"/>`);
    parts.push(`<text x="${LEFT - 6}" y="${py}" text-anchor="end" dy="4">${tick}</text>`);
  }
  const middle = (LEFT + WIDTH - RIGHT) / 2;
  parts.push(`<text x="${middle}" y="${HEIGHT - 10}" text-anchor="middle">percentile</text>`);
  const labelY = (TOP + bottom) / 2;
  parts.push(
    `<text x="16" y="${labelY}" text-anchor="middle" ` +
      `transform="rotate(-90 16 ${labelY})">latency (ms, log)</text>`,
  );
  parts.push(
    `<rect x="${LEFT}" y="${TOP}" width="${WIDTH - LEFT - RIGHT}" ` +
      `height="${bottom - TOP}" fill="none" stroke="#888"/>`,
  );
  return parts;
}

/** latencyChartSvg renders the chart of one workload; `title` is its heading. */
export function latencyChartSvg(title: string, lines: ChartLine[]): string {
  const curves = lines.map((line) => curve(line.histogram));
  const all = curves.flat().map(([, ms]) => ms);
  const { lowMs, highMs } =
    all.length > 0
      ? rangeMs(Math.min(...all), Math.max(...all))
      : {
          lowMs: 0.1,
          highMs: 100,
        };
  const plotWidth = WIDTH - LEFT - RIGHT;
  const plotHeight = HEIGHT - TOP - BOTTOM;
  const x = (nines: number): number => LEFT + (nines / NINES_MAX) * plotWidth;
  const logSpan = Math.log10(highMs) - Math.log10(lowMs);
  const y = (ms: number): number =>
    TOP + plotHeight * (1 - (Math.log10(ms) - Math.log10(lowMs)) / logSpan);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" ` +
      `viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${LEFT}" y="24" font-size="15">${escapeXml(title)}</text>`,
    ...axes(x, y, { lowMs, highMs }),
  ];
  curves.forEach((points, i) => {
    const color = COLORS[i % COLORS.length];
    const path = points.map(([n, ms]) => `${x(n).toFixed(1)},${y(ms).toFixed(1)}`).join(' ');
    parts.push(`<polyline points="${path}" fill="none" stroke="${color}" stroke-width="2"/>`);
    const legendY = TOP + 12 + i * 20;
    const legendX = WIDTH - RIGHT + 12;
    const label = `${lines[i].label} (${lines[i].histogram.count.toLocaleString('en-US')})`;
    parts.push(
      `<line x1="${legendX}" y1="${legendY}" x2="${legendX + 18}" y2="${legendY}" ` +
        `stroke="${color}" stroke-width="3"/>`,
      `<text x="${legendX + 24}" y="${legendY + 4}">${escapeXml(label)}</text>`,
    );
  });
  parts.push('</svg>', '');
  return parts.join('\n');
}
