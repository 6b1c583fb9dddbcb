/**
 * What the store benchmark reads from the server side: the CPU time of a process (utime + stime
 * of /proc/<pid>/stat, all its threads; used for Strata's nodes and etcd's members), Strata
 * nodes' own counters (ready cycles, fsyncs) over Admin.Status, and whether every follower
 * applied what its leader committed (so that one workload's apply backlog is not charged to the
 * next).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { ProcessCluster } from '../jepsen-like-tests/harness/process-cluster.js';
import type { ServerReading } from './store-system.js';

/** clockTicksPerSecond is the kernel's USER_HZ, the unit of /proc/<pid>/stat times. */
function clockTicksPerSecond(): number {
  try {
    const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isSafeInteger(value) && value > 0 ? value : 100;
  } catch {
    return 100;
  }
}

const CLOCK_TICKS_PER_SECOND = clockTicksPerSecond();

/**
 * processCpuUs reads a process's user+system CPU time in µs. The resolution is one clock tick
 * (10 ms at USER_HZ 100), so a delta is only meaningful over seconds of work.
 */
export function processCpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Field 2 (comm) may hold spaces and parentheses: split after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  const ticks = Number(fields[11]) + Number(fields[12]);
  if (!Number.isFinite(ticks)) throw new Error(`unreadable /proc/${pid}/stat: ${stat}`);
  return (ticks * 1_000_000) / CLOCK_TICKS_PER_SECOND;
}

/** nodePids lists the process id of every running node, by node id. */
export function nodePids(cluster: ProcessCluster): Map<number, number> {
  const pids = new Map<number, number>();
  for (const [id, node] of cluster.nodes) {
    const pid = node.child?.pid;
    if (pid !== undefined) pids.set(id, pid);
  }
  return pids;
}

/** readStrata reads every node's CPU time and its ready-cycle and fsync counters. */
export async function readStrata(cluster: ProcessCluster): Promise<ServerReading> {
  const reading: ServerReading = { cpuUsByMember: {}, syncs: 0, cycles: 0 };
  for (const [id, pid] of nodePids(cluster)) {
    reading.cpuUsByMember[`node-${id}`] = processCpuUs(pid);
    const status = await cluster.status(id);
    reading.syncs += Number(status?.syncs ?? 0);
    reading.cycles = (reading.cycles ?? 0) + Number(status?.cycles ?? 0);
  }
  return reading;
}

/**
 * waitApplied waits until every node applied, in every group, the highest commit index any
 * node reports for it; returns the time waited (ms). Bounded by `timeoutMs`.
 */
export async function waitApplied(cluster: ProcessCluster, timeoutMs: number): Promise<number> {
  return cluster.waitUntil('every node applied every commit', timeoutMs, async () => {
    const commit = new Map<number, number>();
    const applied: Map<number, number>[] = [];
    for (const id of nodePids(cluster).keys()) {
      const status = await cluster.status(id);
      if (!status) return false;
      const mine = new Map<number, number>();
      for (const group of status.groups ?? []) {
        const groupId = group.groupId ?? 0;
        commit.set(groupId, Math.max(commit.get(groupId) ?? 0, Number(group.commit)));
        mine.set(groupId, Number(group.applied));
      }
      applied.push(mine);
    }
    return applied.every((mine) =>
      [...commit].every(([groupId, index]) => (mine.get(groupId) ?? 0) >= index),
    );
  });
}
