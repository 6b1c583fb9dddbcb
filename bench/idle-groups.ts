/**
 * bench/idle-groups: CPU and memory of store nodes hosting many idle groups (1,000 by default),
 * with quiescence on (the default) and off. Starts a 3-node cluster of real processes on
 * loopback, waits for every group to have a leader, lets it settle, then samples each node's
 * CPU time and resident memory over a window. A benchmark, not a test: it asserts nothing.
 *
 *   npm run bench:idle -- [--groups 1000] [--window 10] [--quiesce-ticks 20]
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ProcessCluster } from '../jepsen-like-tests/harness/process-cluster.js';

const TICKS_PER_SECOND = 100; // /proc/<pid>/stat counts CPU time in clock ticks of 10 ms

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

async function measure(groups: number, quiesceTicks: number, windowS: number): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-idle-'));
  const cluster = await ProcessCluster.start({
    dir,
    groupCount: groups,
    nodeConfig: { quiesceTicks },
  });
  try {
    const electedMs = await cluster.waitForLeaders(groups, 120_000);
    await new Promise((resolve) => setTimeout(resolve, 5_000)); // let idle groups quiesce
    const pids = [...cluster.nodes.values()].map((node) => node.child?.pid ?? 0);
    const before = pids.map(cpuSeconds);
    const started = Date.now();
    await new Promise((resolve) => setTimeout(resolve, windowS * 1_000));
    const seconds = (Date.now() - started) / 1_000;
    return pids.map((pid, i) => {
      const core = ((cpuSeconds(pid) - before[i]) / seconds) * 100;
      const rss = rssKiB(pid);
      return `| ${groups} | ${quiesceTicks} | ${i + 1} | ${core.toFixed(1)} % | ${(rss / 1024).toFixed(0)} MiB | ${(rss / groups).toFixed(1)} KiB | ${electedMs} ms |`;
    });
  } finally {
    await cluster.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      groups: { type: 'string', default: '1000' },
      window: { type: 'string', default: '10' },
      'quiesce-ticks': { type: 'string', default: '20' },
    },
  });
  const groups = Number(values.groups);
  const windowS = Number(values.window);
  const quiesceTicks = Number(values['quiesce-ticks']);
  console.log(
    '| groups | quiesceTicks | node | CPU (of one core) | RSS | RSS per group | all led after |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const ticks of [quiesceTicks, 0]) {
    for (const row of await measure(groups, ticks, windowS)) console.log(row);
  }
}

await main();
