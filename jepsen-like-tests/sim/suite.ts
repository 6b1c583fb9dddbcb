/**
 * runSuite is the property suite: fast-check generates schedules from a profile, each one is
 * run on a fresh simulated cluster (runSchedule), and the first failing schedule is shrunk to a
 * smaller one that breaks the same property.
 * The result carries the shrunk schedule and the commands that replay it.
 */
import fc from 'fast-check';
import type { Mutation } from '../../src/raft/index.js';
import { DEFAULT_PROFILE, scheduleArbitrary, type Profile } from './profiles.js';
import { addStats, emptyStats, runSchedule, type RunFailure, type RunStats } from './run.js';
import { sortedEvents, type Schedule } from './schedule.js';

/** SuiteOptions configure one property run. */
export interface SuiteOptions {
  runs: number;
  /** fast-check seed: the same seed generates the same schedules (and the same shrinking). */
  seed: number;
  profile?: Profile;
  mutation?: Mutation | null;
  /** shrink a failure to a minimal schedule (default true). */
  shrink?: boolean;
  /** progress receives one line per run (the CLI's --verbose). */
  progress?: (line: string) => void;
}

/** SuiteFailure is a counterexample: the shrunk schedule and what it broke. */
export interface SuiteFailure {
  schedule: Schedule;
  failure: RunFailure;
  /** What the first failing schedule broke, before shrinking (shrinking may find another). */
  firstFailure: RunFailure;
  /** Schedules run before the first failing one was found (that one included). */
  runsToFailure: number;
  shrinks: number;
  counterexamplePath: string;
}

/** SuiteResult is the outcome of a suite. `stats` sums the runs before the first failure. */
export interface SuiteResult {
  seed: number;
  profile: Profile;
  runs: number;
  stats: RunStats;
  elapsedMs: number;
  failure: SuiteFailure | null;
}

/** runSuite runs `options.runs` generated schedules and reports the first (shrunk) failure. */
export function runSuite(options: SuiteOptions): SuiteResult {
  const started = performance.now();
  const stats = emptyStats();
  const mutation = options.mutation ?? null;
  const profile = options.profile ?? DEFAULT_PROFILE;
  let failed = false;
  let firstFailure: RunFailure | null = null;
  const property = fc.property(scheduleArbitrary(profile), (schedule) => {
    const result = runSchedule(schedule, { mutation });
    if (!failed) addStats(stats, result.stats);
    if (result.failure === null) {
      options.progress?.(
        `run ${stats.runs}: ok (${result.stats.events} events, ` +
          `${result.stats.opsChecked} ops)`,
      );
      return true;
    }
    failed = true;
    firstFailure ??= result.failure;
    options.progress?.(`run: ${result.failure.property}: ${result.failure.message}`);
    // Shrink toward schedules that break the same property (not just any property).
    return result.failure.property !== firstFailure.property;
  });
  const details = fc.check(property, {
    numRuns: options.runs,
    seed: options.seed,
    endOnFailure: options.shrink === false,
  });
  const elapsedMs = performance.now() - started;
  if (!details.failed || details.counterexample === null) {
    return { seed: options.seed, profile, runs: details.numRuns, stats, elapsedMs, failure: null };
  }
  const shrunk = details.counterexample[0];
  const schedule = { ...shrunk, events: sortedEvents(shrunk) };
  const rerun = runSchedule(schedule, { mutation });
  const failure: RunFailure = rerun.failure ?? {
    property: 'Exception',
    message: String(details.errorInstance ?? 'the property failed but its rerun passed'),
    atMs: 0,
  };
  return {
    seed: options.seed,
    profile,
    runs: details.numRuns,
    stats,
    elapsedMs,
    failure: {
      schedule,
      failure,
      firstFailure: firstFailure ?? failure,
      runsToFailure: details.numRuns,
      shrinks: details.numShrinks,
      counterexamplePath: details.counterexamplePath ?? '',
    },
  };
}

/** replayCommands returns the shell commands that replay a failure. */
export function replayCommands(result: SuiteResult, mutation: Mutation | null): string[] {
  const env = mutation === null ? '' : `STRATA_MUTATION=${mutation} `;
  const { name, nodeCounts } = result.profile;
  const shape =
    (name === 'default' ? '' : ` --profile ${name}`) +
    (nodeCounts.length === 1 ? ` --nodes ${nodeCounts[0]}` : '');
  const lines = [`${env}npm run test:raft -- --seed ${result.seed} --runs ${result.runs}${shape}`];
  if (result.failure !== null) {
    const json = JSON.stringify(result.failure.schedule);
    lines.unshift(`${env}npm run test:raft -- --replay '${json}'`);
  }
  return lines;
}

/** formatFailure renders a counterexample: property, message, schedule, replay commands. */
export function formatFailure(result: SuiteResult, mutation: Mutation | null): string {
  const failure = result.failure;
  if (failure === null) return 'no failure';
  return [
    `PROPERTY FAILED: ${failure.failure.property}` +
      (mutation === null ? '' : ` (mutation ${mutation})`),
    `  after ${failure.runsToFailure} schedule(s), fast-check seed ${result.seed}, ` +
      `shrunk ${failure.shrinks} time(s), simulation seed ${failure.schedule.seed}`,
    `  ${failure.failure.message}`,
    ...(failure.firstFailure.property === failure.failure.property
      ? []
      : [`  (before shrinking: ${failure.firstFailure.message.split('\n')[0]})`]),
    `  shrunk schedule: ${JSON.stringify(failure.schedule)}`,
    '  replay with:',
    ...replayCommands(result, mutation).map((line) => `    ${line}`),
  ].join('\n');
}

/** formatStats renders the counts of a suite on one line. */
export function formatStats(stats: RunStats, elapsedMs: number): string {
  const seconds = Math.max(elapsedMs, 1) / 1000;
  return (
    `${stats.runs} schedules in ${seconds.toFixed(1)} s ` +
    `(${(stats.runs / seconds).toFixed(1)} schedules/s, ` +
    `${Math.round(stats.events / seconds)} events/s): ${stats.events} events, ` +
    `${stats.elections} elections, ${stats.snapshotsInstalled} snapshots installed ` +
    `(${stats.snapshotsCreated} taken), ${stats.confChanges} conf changes, ` +
    `${stats.transfers} transfers, ${stats.crashes} crashes, ${stats.messages} messages, ` +
    `${stats.opsChecked} ops checked (${stats.opsInfo} indeterminate), ` +
    `leader after heal within ${stats.leaderTicksMax} ticks max`
  );
}
