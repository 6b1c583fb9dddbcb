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

async function runProfile(profile: string): Promise<LaunchResult> {
  const options: RunOptions = structuredClone({ ...PROFILES[profile]!, resultsDir: RESULTS_DIR });
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

test('ack-before-sync: kill -9 loses acknowledged writes and the suite reports them', async (t) => {
  await requireSwitch('ack-before-sync');
  const result = await runProfile('ack-before-sync');
  const summary = result.summary!;
  t.diagnostic(summaryLine(summary));
  assert.equal(summary.verdict, 'fail');
  const lost = summary.anomalies.filter((a) => /acknowledged adds lost/.test(a));
  for (const line of lost.slice(0, 5)) t.diagnostic(line);
  assert.ok(lost.length > 0, `no lost writes reported:\n${summary.anomalies.join('\n')}`);
});
