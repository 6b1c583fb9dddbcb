/**
 * The checks can fail: each known Raft bug, switched in by its mutation flag, is caught. For
 * each flag the property suite runs with the flag on, on schedules biased toward what exposes
 * that bug (Figure-8 leader churn for commit-old-term, a partitioned old leader for stale
 * reads, a stale node campaigning for the missing log check, crashes right after votes and
 * acks for the persistence bugs), from a fixed seed, so it is caught deterministically after
 * the same number of schedules every time. The shrunk counterexample must replay to a failure,
 * and the very same schedules must pass with the flag off (the failure is the bug's doing).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MUTATIONS } from '../../src/raft/index.js';
import { MUTATION_PROFILES } from './profiles.js';
import { runSchedule } from './run.js';
import { formatFailure, runSuite } from './suite.js';

/** Schedules a mutation may take to be caught. */
const RUNS_MAX = 300;
const SEED = 1;

for (const mutation of MUTATIONS) {
  test(`mutation ${mutation} is caught`, (t) => {
    const profile = MUTATION_PROFILES[mutation];
    const result = runSuite({ runs: RUNS_MAX, seed: SEED, profile, mutation });
    const failure = result.failure;
    assert.ok(failure !== null, `${mutation} survived ${RUNS_MAX} schedules of ${profile.name}`);
    t.diagnostic(
      `caught after ${failure.runsToFailure} schedule(s) by ` +
        `${failure.firstFailure.property} (shrunk ${failure.shrinks} times to a ` +
        `${failure.failure.property} counterexample, ` +
        `${(result.elapsedMs / 1000).toFixed(1)} s): ${failure.failure.message.split('\n')[0]}`,
    );
    const replay = runSchedule(failure.schedule, { mutation });
    assert.ok(replay.failure !== null, 'the shrunk schedule no longer fails');
    const control = runSuite({ runs: failure.runsToFailure, seed: SEED, profile });
    assert.equal(control.failure, null, formatFailure(control, null));
  });
}
