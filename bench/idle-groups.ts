/**
 * bench/idle-groups: CPU and memory of store nodes hosting many idle groups (1,000 by default),
 * with quiescence on (the default) and off. Starts a 3-node cluster of real processes on
 * loopback, waits for every group to have a leader, lets it settle, then samples each node's
 * CPU time and resident memory (once a second, averaged) over a window. With a baseline (16
 * groups by default) it first measures a cluster with that many groups the same way and reports
 * the marginal memory per group: (RSS - median baseline RSS) / (groups - baseline groups), the
 * figure the "KiB per idle group" target is about. A benchmark: it asserts nothing.
 *
 *   npm run bench:idle -- [--groups 1000] [--window 10] [--settle 5] [--quiesce-ticks 20]
 *                         [--baseline-groups 16] [--skip-off]
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ProcessCluster } from '../jepsen-like-tests/harness/process-cluster.js';

const TICKS_PER_SECOND = 100; // /proc/<pid>/stat counts CPU time in clock ticks of 10 ms
/** ELECTION_TIMEOUT_MS bounds the wait for every group to have a leader. */
const ELECTION_TIMEOUT_MS = 120_000;

/** cpuSeconds reads a process's user + system CPU time. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** rssKiB reads a process's resident memory. */
function rssKiB(pid: number): number {
  const match = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/);
  return match ? Number(match[1]) : 0;
}

/** NodeSample is one node's CPU share and mean resident memory over the window. */
interface NodeSample {
  corePercent: number;
  rssKiB: number;
}

/** Measurement is one cluster's samples and how long its groups took to all have a leader. */
interface Measurement {
  groups: number;
  quiesceTicks: number;
  electedMs: number;
  nodes: NodeSample[];
}

/** measure starts a cluster of `groups` groups, waits for leaders, settles, then samples it. */
async function measure(
  groups: number,
  quiesceTicks: number,
  settleS: number,
  windowS: number,
): Promise<Measurement> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-idle-'));
  const cluster = await ProcessCluster.start({
    dir,
    groupCount: groups,
    nodeConfig: { quiesceTicks },
  });
  try {
    const electedMs = await cluster.waitForLeaders(groups, ELECTION_TIMEOUT_MS);
    await sleep(settleS * 1_000); // let idle groups quiesce
    const pids = [...cluster.nodes.values()].map((node) => node.child?.pid ?? 0);
    const before = pids.map(cpuSeconds);
    const started = Date.now();
    // RSS is averaged over one sample a second: a single sample lands before or after a major
    // GC by chance, which moved it by 20-30 MiB between otherwise identical runs.
    const rssSums = pids.map(() => 0);
    let samples = 0;
    for (let second = 0; second < windowS; second++) {
      await sleep(1_000);
      pids.forEach((pid, i) => (rssSums[i] += rssKiB(pid)));
      samples++;
    }
    const seconds = (Date.now() - started) / 1_000;
    const nodes = pids.map((pid, i) => ({
      corePercent: ((cpuSeconds(pid) - before[i]) / seconds) * 100,
      rssKiB: rssSums[i] / samples,
    }));
    return { groups, quiesceTicks, electedMs, nodes };
  } finally {
    await cluster.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** rows renders a measurement as table rows, with the marginal KiB per group if a baseline. */
function rows(measurement: Measurement, baseline: Measurement | null): string[] {
  const { groups, quiesceTicks, electedMs } = measurement;
  const baselineKiB = baseline ? median(baseline.nodes.map((node) => node.rssKiB)) : 0;
  return measurement.nodes.map((node, i) => {
    const marginal =
      baseline && groups > baseline.groups
        ? `${((node.rssKiB - baselineKiB) / (groups - baseline.groups)).toFixed(1)} KiB`
        : '—';
    return (
      `| ${groups} | ${quiesceTicks} | ${i + 1} | ${node.corePercent.toFixed(1)} % | ` +
      `${(node.rssKiB / 1024).toFixed(0)} MiB | ${(node.rssKiB / groups).toFixed(1)} KiB | ` +
      `${marginal} | ${electedMs} ms |`
    );
  });
}

/** median of `values` (the mean of the middle two for an even count). */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      groups: { type: 'string', default: '1000' },
      window: { type: 'string', default: '10' },
      settle: { type: 'string', default: '5' },
      'quiesce-ticks': { type: 'string', default: '20' },
      'baseline-groups': { type: 'string', default: '16' },
      'skip-off': { type: 'boolean', default: false },
    },
  });
  const groups = Number(values.groups);
  const windowS = Number(values.window);
  const settleS = Number(values.settle);
  const quiesceTicks = Number(values['quiesce-ticks']);
  const baselineGroups = Number(values['baseline-groups']);
  console.log(
    '| groups | quiesceTicks | node | CPU (of one core) | RSS | RSS per group | ' +
      'marginal per group | all led after |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const ticks of values['skip-off'] ? [quiesceTicks] : [quiesceTicks, 0]) {
    const baseline =
      baselineGroups > 0 && baselineGroups < groups
        ? await measure(baselineGroups, ticks, settleS, windowS)
        : null;
    if (baseline) for (const row of rows(baseline, null)) console.log(row);
    for (const row of rows(await measure(groups, ticks, settleS, windowS), baseline)) {
      console.log(row);
    }
  }
}

await main();
