/**
 * profile-preload: profiles a Node process from inside, for processes whose command line we do
 * not write (the `strata node` children of the benchmark and the test harness). Load it with
 * `NODE_OPTIONS="--import <repo>/dist/bench/profile-preload.js"` (Node refuses `--cpu-prof` in
 * NODE_OPTIONS) and choose with the environment:
 *
 *   STRATA_PROFILE=cpu | heap        what to record (unset: the preload does nothing)
 *   STRATA_PROFILE_DELAY_MS=5000     start after this long, so start-up and warm-up stay out
 *   STRATA_PROFILE_DIR=.             where `cpu-<pid>.cpuprofile` / `heap-<pid>.heapprofile` go
 *
 * The profile is written when the process exits normally (SIGTERM makes `strata node` exit;
 * kill -9 writes nothing). `heap` is the sampling heap profiler counting objects that were
 * already collected too, so it shows allocation (garbage), not only what is retained.
 * Summaries: `node dist/bench/profile-top.js <file.cpuprofile>`, `node dist/bench/heap-top.js
 * <file.heapprofile> [--ops N]`.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

/** HEAP_SAMPLING_INTERVAL_BYTES: one sample per 16 KiB allocated on average. */
const HEAP_SAMPLING_INTERVAL_BYTES = 16_384;

const kind = process.env.STRATA_PROFILE;
if (kind === 'cpu' || kind === 'heap') {
  const delayMs = Number(process.env.STRATA_PROFILE_DELAY_MS ?? 5_000);
  const dir = process.env.STRATA_PROFILE_DIR ?? '.';
  const session = new Session();
  session.connect();
  let started = false;
  const start = (): void => {
    const done = (error: Error | null): void => {
      if (error) process.stderr.write(`profile-preload: ${error.message}\n`);
      else started = true;
    };
    if (kind === 'cpu') {
      session.post('Profiler.enable', () => session.post('Profiler.start', done));
    } else {
      session.post(
        'HeapProfiler.startSampling',
        {
          samplingInterval: HEAP_SAMPLING_INTERVAL_BYTES,
          includeObjectsCollectedByMajorGC: true,
          includeObjectsCollectedByMinorGC: true,
        },
        done,
      );
    }
  };
  setTimeout(start, delayMs).unref();
  // An in-process session answers synchronously, so the profile is written before exit ends.
  process.on('exit', () => {
    if (!started) return;
    const method = kind === 'cpu' ? 'Profiler.stop' : 'HeapProfiler.stopSampling';
    session.post(method, (error, result) => {
      if (error || !result) return;
      const file = join(dir, `${kind}-${process.pid}.${kind}profile`);
      writeFileSync(file, JSON.stringify((result as { profile: unknown }).profile));
    });
  });
}
