/**
 * Proof that the Jepsen-like checks can fail (part of `npm test`). Each test arms a store-level
 * mutation in every node (`STRATA_TEST_MUTATION`, test-only) and asserts the suite catches it:
 * - `stale-read` (linearizable reads served from local state, no ReadIndex) under partitions
 *   of leaders: the linearizability checker reports non-linearizable keys, and the HTML report
 *   shows the longest partial linearization of the offending key;
 * - `ack-before-sync` (acknowledge before the log write is synced) with kill -9 of a majority
 *   while the minority is stopped: lost acknowledged writes are reported.
 * If the node has no such switch, the test fails and says what to add (it is never skipped).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { summaryLine } from './report/summary.js';
import { RESULTS_DIR, runInNamespace, stopAllRuns, type LaunchResult } from './runner/launch.js';
import { PROFILES, type RunOptions } from './runner/options.js';

after(() => stopAllRuns());

/** requireSwitch fails unless the node build knows STRATA_TEST_MUTATION=<name>. */
async function requireSwitch(name: string): Promise<void> {
  const url = new URL('../src/store/test-mutations.js', import.meta.url).href;
  const module = (await import(url).catch(() => null)) as { STORE_MUTATIONS?: string[] } | null;
  assert.ok(
    module?.STORE_MUTATIONS?.includes(name),
    `the node has no test switch STRATA_TEST_MUTATION=${name}: add it to src/store ` +
      '(see "Proof that the checks can fail" in docs/testing.md) so that this test can prove the ' +
      'checks fail',
  );
}

async function runProfile(profile: string, seedOffset = 0): Promise<LaunchResult> {
  const options: RunOptions = structuredClone({ ...PROFILES[profile]!, resultsDir: RESULTS_DIR });
  options.seed += seedOffset;
  const result = await runInNamespace(options);
  assert.ok(result.summary, `no summary (exit ${result.exitCode}):\n${result.output.slice(-4000)}`);
  const log = await readFile(join(result.dir, 'nodes', 'node-1.log'), 'utf8');
  assert.match(
    log,
    new RegExp(`test mutation '${profile}' is armed`),
    'the node ignored the switch',
  );
  return result;
}

test('stale-read: the checker reports a non-linearizable key and the report shows it', async (t) => {
  await requireSwitch('stale-read');
  const result = await runProfile('stale-read');
  const summary = result.summary!;
  t.diagnostic(summaryLine(summary));
  const register = summary.workloads.find((w) => w.name === 'register');
  assert.equal(register?.valid, false, `stale reads were not caught: ${register?.summary}`);
  assert.equal(summary.verdict, 'fail');
  assert.ok(
    summary.anomalies.some((a) => /not linearizable/.test(a)),
    summary.anomalies.join('\n'),
  );
  const html = await readFile(join(result.dir, 'report.html'), 'utf8');
  assert.match(html, /NOT linearizable/);
  assert.match(html, /Longest partial linearization/);
  assert.match(html, /STUCK/);
});

/** ACK_BEFORE_SYNC_ATTEMPTS bounds the runs (each step exposes the loss about half the time). */
const ACK_BEFORE_SYNC_ATTEMPTS = 3;

test('ack-before-sync: kill -9 loses acknowledged writes and the suite reports them', async (t) => {
  await requireSwitch('ack-before-sync');
  // Every run must fail (the bug always breaks something: lost writes, diverged replicas or two
  // leaders in a term); lost acknowledged writes must be reported by one of the bounded runs.
  let lost: string[] = [];
  for (let attempt = 0; attempt < ACK_BEFORE_SYNC_ATTEMPTS && lost.length === 0; attempt++) {
    const summary = (await runProfile('ack-before-sync', attempt)).summary!;
    t.diagnostic(summaryLine(summary));
    assert.equal(summary.verdict, 'fail', 'the buggy nodes passed every check');
    lost = summary.anomalies.filter((a) => /acknowledged adds lost/.test(a));
    if (lost.length === 0) t.diagnostic(`attempt ${attempt + 1}: ${summary.anomalies[0]}`);
  }
  for (const line of lost.slice(0, 5)) t.diagnostic(line);
  assert.ok(lost.length > 0, `no lost writes reported in ${ACK_BEFORE_SYNC_ATTEMPTS} runs`);
});
