/**
 * Settling the layout before the final checks. Membership nemeses move replicas while the run
 * goes on; a move finishes by itself (the mover on the metadata leader adds the new replica as
 * a learner, promotes it once caught up, removes the old one, and the old node deletes its
 * copy). The convergence and agreement checks compare a group's replicas as its leader's
 * voters and the nodes hosting it report them, so before they run the runner waits (bounded)
 * until the newest layout (the highest epoch any node serves) has no group mid-move, and the
 * nodes agree with it: each group's leader has exactly the layout's replicas as voters, and a
 * node hosts a group exactly when the layout names it a replica.
 */
import { groupSettled, type ClusterLayout, type GroupReplicas } from '../../src/ring/index.js';
import type { NodeStatus } from '../harness/process-cluster.js';
import type { JepsenCluster } from './cluster.js';
import { waitFor } from './time.js';

/** SETTLE_WAIT_MS bounds the wait for every move to finish. */
export const SETTLE_WAIT_MS = 60_000;

/** SETTLE_POLL_MS is the pause between two looks at the layout and the nodes. */
export const SETTLE_POLL_MS = 500;

/** SETTLE_PROBLEMS_MAX bounds the problems listed (the first ones say enough). */
const SETTLE_PROBLEMS_MAX = 20;

/** Settlement is the outcome of waitSettled. */
export interface Settlement {
  settled: boolean;
  waitedMs: number;
  /** epoch is the newest layout's epoch at the end (0: no node answered). */
  epoch: number;
  /** problems say what was still unsettled at the end (empty when settled). */
  problems: string[];
}

function sameSet(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

function list(ids: readonly number[]): string {
  return ids.length > 0 ? ids.join(',') : '-';
}

/** midMove describes a group whose members are not (yet) its target voters, or null. */
export function midMove(entry: GroupReplicas): string | null {
  if (groupSettled(entry)) return null;
  return (
    `group ${entry.groupId} mid-move: replicas ${list(entry.replicas)}, ` +
    `learners ${list(entry.learners)}, target ${list(entry.target)}`
  );
}

/** leaderViews maps each group to the highest-term leader's voters among `statuses`. */
function leaderViews(
  statuses: ReadonlyMap<number, NodeStatus | null>,
): Map<number, { node: number; term: number; voters: number[] }> {
  const views = new Map<number, { node: number; term: number; voters: number[] }>();
  for (const [node, status] of statuses) {
    for (const g of status?.groups ?? []) {
      if (g.role !== 'leader') continue;
      const groupId = Number(g.groupId ?? 0);
      const term = Number(g.term);
      if (term > (views.get(groupId)?.term ?? -1)) {
        views.set(groupId, { node, term, voters: (g.voters ?? []).map(Number) });
      }
    }
  }
  return views;
}

/**
 * unsettled lists what still differs between `layout` and the running nodes' `statuses` (null:
 * the node did not answer): groups mid-move, leaders whose voters are not the layout's
 * replicas, and nodes hosting a group they should not or missing one they should (pure).
 */
export function unsettled(
  layout: ClusterLayout,
  statuses: ReadonlyMap<number, NodeStatus | null>,
): string[] {
  const problems: string[] = [];
  const entries = [layout.metaGroup, ...layout.placement];
  for (const entry of entries) {
    const moving = midMove(entry);
    if (moving) problems.push(moving);
  }
  const leaders = leaderViews(statuses);
  for (const entry of entries) {
    const view = leaders.get(entry.groupId);
    if (!view) problems.push(`group ${entry.groupId} has no leader`);
    else if (!sameSet(view.voters, entry.replicas)) {
      problems.push(
        `group ${entry.groupId}: leader ${view.node} has voters ${list(view.voters)}, ` +
          `the layout replicas ${list(entry.replicas)}`,
      );
    }
  }
  for (const [node, status] of statuses) {
    if (!status) {
      problems.push(`node ${node} does not answer`);
      continue;
    }
    const hosted = new Set((status.groups ?? []).map((g) => Number(g.groupId ?? 0)));
    for (const entry of entries) {
      const member = (entry.replicas as readonly number[]).includes(node);
      if (member && !hosted.has(entry.groupId)) {
        problems.push(`node ${node} has no replica of group ${entry.groupId}`);
      } else if (!member && hosted.has(entry.groupId)) {
        problems.push(`node ${node} still hosts group ${entry.groupId}`);
      }
    }
  }
  return problems;
}

/**
 * waitSettled waits (bounded by `timeoutMs`) until the newest layout and the running nodes
 * agree (see unsettled). Paused nodes are not asked (the runner heals every fault first).
 */
export async function waitSettled(
  cluster: JepsenCluster,
  timeoutMs = SETTLE_WAIT_MS,
  signal?: AbortSignal,
): Promise<Settlement> {
  const started = performance.now();
  let epoch = 0;
  let problems: string[] = [];
  const settled = await waitFor(
    async () => {
      const layout = await cluster.layout();
      if (!layout) {
        problems = ['no node answered Admin.Cluster'];
        return false;
      }
      epoch = layout.epoch;
      const running = cluster.ids().filter((id) => cluster.isRunning(id) && !cluster.isPaused(id));
      const statuses = await Promise.all(running.map((id) => cluster.status(id, 1_000)));
      problems = unsettled(layout, new Map(running.map((id, i) => [id, statuses[i] ?? null])));
      return problems.length === 0;
    },
    timeoutMs,
    SETTLE_POLL_MS,
    signal,
  );
  const total = problems.length;
  const listed = problems.slice(0, SETTLE_PROBLEMS_MAX);
  if (total > SETTLE_PROBLEMS_MAX) listed.push(`... and ${total - SETTLE_PROBLEMS_MAX} more`);
  return {
    settled,
    waitedMs: Math.round(performance.now() - started),
    epoch,
    problems: settled ? [] : listed,
  };
}
