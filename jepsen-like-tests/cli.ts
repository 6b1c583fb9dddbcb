/**
 * `npm run jepsen -- [options]`: one Jepsen-like run against real `strata node` processes in a
 * private network namespace, for soaks and replays. Prints progress, then one summary line and
 * the report's path; exits 0 when the run passed, 1 when it found an anomaly or was
 * inconclusive, 2 on a usage or setup error.
 *
 *   --profile P      bounded | soak (default) | stale-read | ack-before-sync
 *   --time S         seconds of faults (soak default 600)
 *   --seed N         fast-check seed of the schedule (and the workload's choices)
 *   --nemesis LIST   comma-separated: all, a kind (kill, pause, partition, proxy, snapshot,
 *                    failpoint, torn-tail, membership) or kind:variant (see --list)
 *   --workload LIST  comma-separated: register, set, retries
 *   --nodes N        cluster size (default 5)     --groups N   Raft groups (default 12)
 *   --mutation M     arm a store mutation in every node (see src/store/test-mutations.ts)
 *   --replay FILE    replay a schedule.json exactly (seed still drives the workload)
 *   --no-cover       do not start with every nemesis once
 *   --no-proxy       connect nodes directly (proxy:* nemeses are then skipped)
 *   --results DIR    parent folder of run folders (default jepsen-like-tests/results)
 *   --list           list nemeses, workloads and profiles
 *   --check DIR      check a run folder's register history again (no cluster)
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { checkHistory, formatResult } from './checker/index.js';
import {
  checkSchedule,
  NEMESIS_NAMES,
  SKIPPED_NEMESES,
  selectNemeses,
} from './nemesis/schedule.js';
import { summaryLine } from './report/summary.js';
import { RESULTS_DIR, runInNamespace, stopAllRuns } from './runner/launch.js';
import { PROFILES, type RunOptions } from './runner/options.js';
import { WORKLOAD_NAMES } from './workloads/index.js';

const VALUE_FLAGS = new Set([
  '--profile',
  '--time',
  '--seed',
  '--nemesis',
  '--workload',
  '--nodes',
  '--groups',
  '--mutation',
  '--replay',
  '--results',
]);

/** parseFlags splits argv into flag values and switches. */
export function parseFlags(argv: readonly string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (VALUE_FLAGS.has(arg)) {
      const value = argv[++i];
      if (value === undefined) throw new Error(`${arg} needs a value`);
      flags.set(arg, value);
    } else if (['--no-cover', '--no-proxy', '--list', '--help'].includes(arg)) {
      flags.set(arg, 'true');
    } else {
      throw new Error(`unknown argument '${arg}' (see --help)`);
    }
  }
  return flags;
}

function integerFlag(flags: Map<string, string>, name: string, min: number, max: number) {
  const text = flags.get(name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer in [${min}, ${max}], got ${text}`);
  }
  return value;
}

/** optionsFromFlags builds the run options from a profile and the flags. */
export function optionsFromFlags(flags: Map<string, string>): RunOptions {
  const profileName = flags.get('--profile') ?? 'soak';
  const profile = PROFILES[profileName];
  if (!profile)
    throw new Error(`unknown profile '${profileName}' (${Object.keys(PROFILES).join(', ')})`);
  const options: RunOptions = structuredClone({ ...profile, resultsDir: RESULTS_DIR });
  const time = integerFlag(flags, '--time', 1, 86_400);
  if (time !== undefined) options.timeMs = time * 1000;
  options.seed = integerFlag(flags, '--seed', 0, 2 ** 31 - 1) ?? options.seed;
  const nodes = integerFlag(flags, '--nodes', 3, 9);
  if (nodes !== undefined) options.cluster.nodes = nodes;
  options.cluster.groupCount = integerFlag(flags, '--groups', 1, 256) ?? options.cluster.groupCount;
  const nemesis = flags.get('--nemesis');
  if (nemesis) options.nemeses = selectNemeses(nemesis.split(','));
  const workload = flags.get('--workload');
  if (workload) {
    options.workloads = workload.split(',');
    const unknown = options.workloads.filter((w) => !WORKLOAD_NAMES.includes(w));
    if (unknown.length) throw new Error(`unknown workload(s) ${unknown} (${WORKLOAD_NAMES})`);
  }
  const mutation = flags.get('--mutation');
  if (mutation) options.cluster.env = { ...options.cluster.env, STRATA_TEST_MUTATION: mutation };
  const replay = flags.get('--replay');
  if (replay) options.schedule = checkSchedule(JSON.parse(readFileSync(replay, 'utf8')));
  if (flags.has('--no-cover')) options.coverAll = false;
  if (flags.has('--no-proxy')) options.proxy = false;
  const results = flags.get('--results');
  if (results) options.resultsDir = resolve(results);
  return options;
}

function list(): void {
  process.stdout.write(`nemeses:\n  ${NEMESIS_NAMES.join('\n  ')}\n`);
  for (const [name, why] of Object.entries(SKIPPED_NEMESES)) {
    process.stdout.write(`  (${name}: not available: ${why})\n`);
  }
  process.stdout.write(`workloads: ${WORKLOAD_NAMES.join(', ')}\n`);
  process.stdout.write(`profiles: ${Object.keys(PROFILES).join(', ')}\n`);
}

/** recheck runs the linearizability checker again on a run folder's register history. */
async function recheck(dir: string): Promise<number> {
  const text = gunzipSync(readFileSync(join(dir, 'register.jsonl.gz'))).toString('utf8');
  const result = await checkHistory(text, { timeLimitMsPerKey: 60_000 });
  process.stdout.write(formatResult(result) + '\n');
  return result.valid === true ? 0 : 1;
}

async function main(): Promise<number> {
  let options: RunOptions;
  try {
    const flags = parseFlags(process.argv.slice(2));
    if (flags.has('--help')) {
      process.stdout.write(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0] + '*/\n');
      return 0;
    }
    if (flags.has('--list')) {
      list();
      return 0;
    }
    const check = flags.get('--check');
    if (check) return await recheck(check);
    options = optionsFromFlags(flags);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      stopAllRuns();
      process.exit(130);
    });
  }
  const result = await runInNamespace(options, (text) => process.stdout.write(text));
  if (!result.summary) {
    process.stderr.write(`the run left no summary (exit ${result.exitCode}); see ${result.dir}\n`);
    return 2;
  }
  process.stdout.write(`${summaryLine(result.summary)}\nreport: ${result.dir}/report.html\n`);
  return result.summary.verdict === 'pass' ? 0 : 1;
}

main().then((code) => process.exit(code));
