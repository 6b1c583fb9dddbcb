/**
 * Entry point of a run's runner process, started by launch.ts inside a fresh network namespace
 * (`unshare --net`): `node child.js <options.json> <result.json>`. It runs one test, writes the
 * summary to the result file, and exits 0 on a pass, 1 on a fail or an inconclusive run, 2 when
 * the run could not be set up. On SIGINT or SIGTERM it kills everything it started, by pid.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { RunOptions } from './options.js';
import { killAllActive } from './pids.js';
import { runJepsen } from './run.js';

async function main(): Promise<number> {
  const [optionsPath, resultPath] = process.argv.slice(2);
  if (!optionsPath || !resultPath) {
    process.stderr.write('usage: child.js <options.json> <result.json>\n');
    return 2;
  }
  const options = JSON.parse(readFileSync(optionsPath, 'utf8')) as RunOptions;
  const controller = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      killAllActive();
      process.exit(130);
    });
  }
  try {
    const summary = await runJepsen(options, controller.signal);
    writeFileSync(resultPath, JSON.stringify(summary, null, 2) + '\n');
    return summary.verdict === 'pass' ? 0 : 1;
  } catch (error) {
    process.stderr.write(`run failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    return 2;
  }
}

main().then(
  (code) => {
    killAllActive();
    process.exit(code);
  },
  () => {
    killAllActive();
    process.exit(2);
  },
);
