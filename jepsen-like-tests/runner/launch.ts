/**
 * runInNamespace starts one run in its own network namespace and waits for it (bounded by the
 * run's hard timeout). It is what the tests and the CLI call: it makes sure the network tools
 * exist, hands the options to a runner process started with `unshare --net`, and returns the
 * run's summary. `stopAllRuns` (for `after()` hooks and signal handlers) kills every runner
 * still alive and, from their `pids.json`, whatever they started.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureNetworkTools, spawnInNamespace } from '../net/namespace.js';
import type { RunSummary } from '../report/summary.js';
import { hardTimeoutOf, type RunOptions } from './options.js';
import { killPid, killPidsInFile } from './pids.js';
import { runIdOf } from './run.js';

const CHILD_SCRIPT = fileURLToPath(new URL('./child.js', import.meta.url));

/** RESULTS_DIR is the default parent of run folders (git-ignored). */
export const RESULTS_DIR = fileURLToPath(
  new URL('../../../jepsen-like-tests/results/', import.meta.url),
);

/** LaunchResult is what a finished run left. */
export interface LaunchResult {
  summary: RunSummary | null;
  exitCode: number | null;
  dir: string;
  /** output is the runner's stdout and stderr (the tail, for failure messages). */
  output: string;
}

const live = new Map<ChildProcess, string>();

/** stopAllRuns kills every live runner and the processes listed in its pids.json. */
export function stopAllRuns(): void {
  for (const [child, dir] of live) {
    if (child.pid !== undefined) killPid(child.pid);
    try {
      killPidsInFile(readFileSync(join(dir, 'pids.json'), 'utf8'));
    } catch {
      // no pids file: nothing was started
    }
  }
  live.clear();
}

/** runInNamespace runs `options` in a new namespace and returns its summary. */
export async function runInNamespace(
  options: RunOptions,
  echo: (text: string) => void = () => {},
): Promise<LaunchResult> {
  ensureNetworkTools(echo);
  let runId = options.runId ?? runIdOf(options);
  for (let n = 2; n < 100 && existsSync(join(options.resultsDir, runId)); n++) {
    runId = `${options.runId ?? runIdOf(options)}-${n}`; // two runs in one second
  }
  const dir = join(options.resultsDir, runId);
  await mkdir(dir, { recursive: true });
  const optionsPath = join(tmpdir(), `strata-jepsen-${runId}-options.json`);
  const resultPath = join(dir, 'result.json');
  await writeFile(optionsPath, JSON.stringify({ ...options, runId }));
  const child = spawnInNamespace(CHILD_SCRIPT, [optionsPath, resultPath], { stdio: 'pipe' });
  live.set(child, dir);
  let output = '';
  const keep = (chunk: Buffer): void => {
    const text = chunk.toString();
    output = (output + text).slice(-200_000);
    echo(text);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exitCode = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => {
      echo(`run ${runId} exceeded ${hardTimeoutOf(options)} ms: killing it\n`);
      stopAllRuns();
    }, hardTimeoutOf(options));
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  live.delete(child);
  await rm(optionsPath, { force: true });
  try {
    killPidsInFile(readFileSync(join(dir, 'pids.json'), 'utf8'));
  } catch {
    // nothing left to kill
  }
  const text = await readFile(resultPath, 'utf8').catch(() => null);
  return { summary: text ? (JSON.parse(text) as RunSummary) : null, exitCode, dir, output };
}
