/**
 * The bounded Jepsen-like profile (part of `npm test`). It proves, against real `strata node`
 * processes in a private network namespace (5 nodes, 12 Raft groups), that while the register,
 * set and retries workloads run, every nemesis of the suite runs at least once (kill -9 of a
 * node, a leader, a minority, all, a majority while the minority is stopped; SIGSTOP of a node
 * and a leader; iptables partitions of every shape; proxy delay, drop and swizzle-clogging;
 * forced snapshots, with and without snapshot failpoints; the other failpoints; a torn Raft log
 * tail; a replica move and a leadership transfer through the Admin service) and that
 * afterwards, once every move finished, every check passes: per-key linearizability (no key
 * unknown), no lost or unexpected set element on any replica, no write applied twice, Election
 * Safety and monotonic terms and commits over the status samples, and converged, agreeing
 * replicas.
 * Thousands of operations per workload are checked. Seed: STRATA_JEPSEN_SEED (default 1).
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { NEMESIS_NAMES } from './nemesis/schedule.js';
import { summaryLine } from './report/summary.js';
import { RESULTS_DIR, runInNamespace, stopAllRuns } from './runner/launch.js';
import { PROFILES, hardTimeoutOf, type RunOptions } from './runner/options.js';

/** OPS_CHECKED_MIN is the least number of operations each workload must have checked. */
const OPS_CHECKED_MIN = { register: 3_000, set: 1_000, retries: 1_000 } as const;

after(() => stopAllRuns());

test('bounded profile: every nemesis, three workloads, zero anomalies', async (t) => {
  const options: RunOptions = structuredClone({ ...PROFILES.bounded!, resultsDir: RESULTS_DIR });
  options.seed = Number(process.env.STRATA_JEPSEN_SEED ?? options.seed);
  const result = await runInNamespace(options);
  const summary = result.summary;
  assert.ok(
    summary,
    `the run left no summary (exit ${result.exitCode}):\n${result.output.slice(-4000)}`,
  );
  t.diagnostic(summaryLine(summary));
  t.diagnostic(`report: ${result.dir}/report.html`);
  const missing = NEMESIS_NAMES.filter((name) => !(name in summary.nemeses));
  assert.deepEqual(missing, [], `nemeses that did not run: ${missing.join(', ')}`);
  for (const workload of summary.workloads) {
    const minimum = OPS_CHECKED_MIN[workload.name as keyof typeof OPS_CHECKED_MIN] ?? 1;
    t.diagnostic(`${workload.summary}`);
    assert.ok(
      workload.opsChecked >= minimum,
      `${workload.name} checked only ${workload.opsChecked} ops (want >= ${minimum})`,
    );
  }
  assert.equal(
    summary.verdict,
    'pass',
    `${summary.anomalies.slice(0, 20).join('\n')}\nreport: ${result.dir}/report.html\n` +
      `replay: ${summary.replay}`,
  );
  assert.ok(summary.durationMs < hardTimeoutOf(options));
});
