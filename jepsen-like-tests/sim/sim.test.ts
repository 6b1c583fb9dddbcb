/**
 * The Raft property suite, run in the deterministic simulator. It proves that over 1600
 * generated fault schedules on 3- and 5-node clusters (partitions of every shape, crashes that
 * lose unsynced state, membership changes with learners joining from empty storage, snapshots
 * and InstallSnapshot, leadership transfers, lossy, duplicating and reordering networks):
 * every safety invariant holds after every event, a leader appears and a fresh proposal
 * commits after the final heal, and the client history is linearizable. How: fast-check
 * generates the schedules from fixed seeds (each run is a pure function of its schedule),
 * runSuite plays each on a fresh Cluster, and a failure prints the shrunk schedule with the
 * command that replays it. The counts show the faults really happened. Core bugs found so far
 * (FINDINGS.md) replay as todo tests until fixed, then as regression tests.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FINDINGS } from './findings.js';
import { DEFAULT_PROFILE, MEMBERSHIP_PROFILE, withNodeCounts } from './profiles.js';
import { runSchedule } from './run.js';
import { parseSchedule, type Schedule } from './schedule.js';
import { formatFailure, formatStats, runSuite } from './suite.js';

const BLOCKS = [
  {
    name: '3-node clusters under every fault',
    runs: 600,
    seed: 3001,
    profile: withNodeCounts(DEFAULT_PROFILE, [3]),
  },
  {
    name: '5-node clusters under every fault',
    runs: 600,
    seed: 5001,
    profile: withNodeCounts(DEFAULT_PROFILE, [5]),
  },
  {
    name: 'membership changes and snapshots on 3 and 5 nodes',
    runs: 400,
    seed: 7001,
    profile: MEMBERSHIP_PROFILE,
  },
];

for (const block of BLOCKS) {
  test(`${block.name}: safety, liveness and linearizability hold`, (t) => {
    const result = runSuite({ runs: block.runs, seed: block.seed, profile: block.profile });
    t.diagnostic(formatStats(result.stats, result.elapsedMs));
    assert.equal(result.failure, null, formatFailure(result, null));
    assert.equal(result.stats.runs, block.runs);
    const { elections, snapshotsInstalled, confChanges, opsChecked, crashes } = result.stats;
    assert.ok(elections > block.runs, `elections: ${elections}`);
    assert.ok(snapshotsInstalled > 0, `snapshots installed: ${snapshotsInstalled}`);
    assert.ok(confChanges > 0, `conf changes: ${confChanges}`);
    assert.ok(crashes > 0, `crashes: ${crashes}`);
    assert.ok(opsChecked > block.runs * 10, `ops checked: ${opsChecked}`);
  });
}

const SAMPLE: Schedule = {
  seed: 42,
  nodeCount: 5,
  durationMs: 1500,
  quietMs: 500,
  snapshotEvery: 7,
  snapshotTrailing: 1,
  preVote: true,
  checkQuorum: true,
  tickSkewMs: 1,
  messageBytesMax: 300,
  clients: 3,
  keys: 2,
  opsMax: 120,
  events: [
    { atMs: 100, kind: 'partition', args: { mode: 'isolate-leader', pick: 0 } },
    { atMs: 300, kind: 'confChange', args: { op: 'add-learner', pick: 0 } },
    { atMs: 400, kind: 'heal', args: {} },
    { atMs: 500, kind: 'crash', args: { pick: 1, leader: true, restartAfterMs: 40 } },
    { atMs: 700, kind: 'confChange', args: { op: 'promote', pick: 0 } },
    { atMs: 900, kind: 'dupRate', args: { rate: 0.2 } },
    { atMs: 1000, kind: 'confChange', args: { op: 'remove-voter', pick: 2 } },
    { atMs: 1200, kind: 'transferLeader', args: { pick: 1 } },
  ],
};

test('a run is a pure function of its schedule (replays are exact)', () => {
  const first = runSchedule(SAMPLE);
  const again = runSchedule(parseSchedule(JSON.stringify(SAMPLE)));
  assert.equal(first.failure, null, first.failure?.message);
  assert.deepEqual(again.stats, first.stats);
  assert.deepEqual(again.history, first.history);
  assert.ok(first.stats.confChanges >= 2, `conf changes: ${first.stats.confChanges}`);
});

for (const finding of FINDINGS) {
  const todo = finding.status === 'open' ? `open: FINDINGS.md #${finding.id}` : undefined;
  test(`finding #${finding.id} (${finding.status}): ${finding.title}`, { todo }, () => {
    for (const schedule of finding.schedules) {
      const result = runSchedule(schedule);
      assert.equal(result.failure, null, result.failure?.message);
    }
  });
}
