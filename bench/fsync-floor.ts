/**
 * fsync-floor: what one durable append costs on this disk, the floor under every replicated
 * write. Appends 4 KiB to a new file in a temporary folder and fsyncs it, over and over, for a
 * bounded time and count, and reports the latency of each append+fsync. The store benchmark
 * runs it before it starts the clusters (same folder as their data); it also runs alone:
 *
 *   npm run build && node dist/bench/fsync-floor.js [--duration 2] [--dir /tmp]
 */
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { LatencyHistogram } from './store-histogram.js';

const BLOCK_BYTES = 4_096;
const WRITES_MAX = 20_000;

/** FsyncFloor is what the measurement found. */
export interface FsyncFloor {
  dir: string;
  blockBytes: number;
  writes: number;
  perSecond: number;
  meanUs: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
}

/**
 * measureFsyncFloor appends+fsyncs 4 KiB blocks in a new folder under `parentDir` for
 * `durationMs` (at most WRITES_MAX times), then removes the folder. It blocks the event loop
 * while it runs: call it when nothing else is going on.
 */
export function measureFsyncFloor(parentDir: string, durationMs: number): FsyncFloor {
  if (!(durationMs > 0 && durationMs <= 60_000)) {
    throw new RangeError(`durationMs ${durationMs} is not in (0, 60000]`);
  }
  const dir = mkdtempSync(join(parentDir, 'fsync-floor-'));
  const block = Buffer.alloc(BLOCK_BYTES, 0x61);
  const histogram = new LatencyHistogram();
  const fd = openSync(join(dir, 'log'), 'a');
  const startMs = performance.now();
  try {
    while (histogram.count < WRITES_MAX && performance.now() - startMs < durationMs) {
      const writeStartMs = performance.now();
      writeSync(fd, block);
      fsyncSync(fd);
      histogram.record(performance.now() - writeStartMs);
    }
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
  const elapsedMs = performance.now() - startMs;
  return {
    dir: parentDir,
    blockBytes: BLOCK_BYTES,
    writes: histogram.count,
    perSecond: (histogram.count * 1_000) / elapsedMs,
    meanUs: histogram.meanUs(),
    p50Us: histogram.percentileUs(50),
    p99Us: histogram.percentileUs(99),
    maxUs: histogram.maxUs,
  };
}

/** describeFsyncFloor is a one-line summary. */
export function describeFsyncFloor(floor: FsyncFloor): string {
  return (
    `append+fsync of ${floor.blockBytes} B in ${floor.dir}: ${Math.round(floor.perSecond)}/s, ` +
    `mean ${Math.round(floor.meanUs)} µs, p50 ${Math.round(floor.p50Us)} µs, ` +
    `p99 ${Math.round(floor.p99Us)} µs, max ${Math.round(floor.maxUs)} µs ` +
    `(${floor.writes} writes)`
  );
}

function main(): void {
  const { values } = parseArgs({
    options: { duration: { type: 'string', default: '2' }, dir: { type: 'string' } },
  });
  const durationMs = Number(values.duration) * 1_000;
  console.log(describeFsyncFloor(measureFsyncFloor(values.dir ?? tmpdir(), durationMs)));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
