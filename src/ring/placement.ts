/**
 * Placement of group replicas on nodes with consistent hashing: a ketama ring of node ids
 * (`hashring`), and each group takes the first `replicationFactor` distinct nodes met walking
 * the ring from the hash of `group-<id>` (hashring's `range`). Adding a node to N nodes then
 * moves about 1/(N + 1) of all replicas, each to the new node, and nothing else moves.
 *
 * What it does not give: even replica counts. With 64 groups a node's count is a sample, not a
 * quota (measured, rf 3: 4 nodes hold 47..50 of an even 48, 5 nodes 37..42 of 38.4, 8 nodes
 * 20..27 of 24). With as many nodes as replicas every node holds every group (3 nodes x 64
 * groups x rf 3 = 64 each). Leaders, which carry most of the load, are balanced separately.
 */
import HashRing from 'hashring';
import assert from 'node:assert/strict';
import type { GroupId, NodeId } from '../raft/index.js';
import { checkGroupCount, checkNodeIds, checkReplicationFactor } from './limits.js';

/**
 * Placement maps each group id (1..groupCount, in order) to its replicas' node ids. The first
 * node of each list is the group's preferred leader; the rest follow in ring order.
 */
export type Placement = Map<GroupId, NodeId[]>;

/**
 * NODE_VNODES is 160 vnodes (640 points) per node, four times ketama's default: it halves the
 * spread of node shares and costs 0.5 s only at NODE_COUNT_MAX nodes.
 */
const NODE_VNODES = 160;

/**
 * placement computes where the replicas of groups 1..groupCount live. It is a pure function
 * of its arguments (the order of `nodeIds` does not matter), so every node computes the same
 * answer. Throws RingConfigError for a group count outside [1, 65535], bad or duplicate node
 * ids, or a replication factor outside [1, 7] or above the node count.
 */
export function placement(
  groupCount: number,
  nodeIds: readonly number[],
  replicationFactor: number,
): Placement {
  checkGroupCount(groupCount);
  checkNodeIds(nodeIds);
  checkReplicationFactor(replicationFactor, nodeIds.length);
  const ring = buildNodeHashRing(nodeIds);
  const replicaSets: NodeId[][] = [];
  for (let group = 1; group <= groupCount; group++) {
    const replicas = ring.range(`group-${group}`, replicationFactor, true);
    assert.equal(replicas.length, replicationFactor, `group ${group} got ${replicas.length}`);
    replicaSets.push(replicas.map((name) => Number(name.slice('node-'.length)) as NodeId));
  }
  const leaders = balanceLeaders(replicaSets, nodeIds);
  const result: Placement = new Map();
  replicaSets.forEach((replicas, index) => {
    const leader = leaders[index]!;
    result.set((index + 1) as GroupId, [leader, ...replicas.filter((node) => node !== leader)]);
  });
  return result;
}

/**
 * buildNodeHashRing builds the ring of `node-<id>` names. Ids are sorted first because
 * hashring breaks ties between equal points by insertion order. Each node gets an explicit
 * vnode count (global 0) so a node's points do not depend on how many nodes there are.
 */
function buildNodeHashRing(nodeIds: readonly NodeId[]): HashRing {
  const servers: Record<string, { vnodes: number }> = {};
  for (const id of [...nodeIds].sort((a, b) => a - b))
    servers[`node-${id}`] = { vnodes: NODE_VNODES };
  return new HashRing(servers, 'md5', { 'vnode count': 0, 'max cache size': 1 });
}

/**
 * balanceLeaders picks one leader per group among its replicas so leader counts are as even
 * as the replica sets allow. Greedy (fewest leaders so far, ring order breaks ties) leaves up
 * to 4 apart on 20 nodes; then, while some node can hand a leadership along a chain of groups
 * to a node with at least 2 fewer, it does. No such chain left means no better balance exists
 * (Harvey et al., "Semi-matchings for bipartite graphs and load balancing").
 */
function balanceLeaders(replicaSets: readonly NodeId[][], nodeIds: readonly NodeId[]): NodeId[] {
  const counts = new Map<NodeId, number>(nodeIds.map((id) => [id, 0]));
  const leaders = replicaSets.map((replicas) => {
    let best = replicas[0]!;
    for (const node of replicas) if (counts.get(node)! < counts.get(best)!) best = node;
    counts.set(best, counts.get(best)! + 1);
    return best;
  });
  // Each shift lowers the sum of squared counts by at least 2, so this bound is never reached.
  for (let shifts = 0; shifts <= replicaSets.length * nodeIds.length; shifts++) {
    if (!shiftOneLeadership(replicaSets, leaders, counts)) return leaders;
  }
  assert.fail('leader balancing did not converge');
}

/**
 * shiftOneLeadership finds a chain source -> ... -> target where each step is a group led by
 * one node with the next node among its replicas, and the target leads at least 2 fewer
 * groups than the source; it moves leadership one step along every link. Returns false if no
 * node has such a chain. Sources are tried from the most loaded, by node id on ties.
 */
function shiftOneLeadership(
  replicaSets: readonly NodeId[][],
  leaders: NodeId[],
  counts: Map<NodeId, number>,
): boolean {
  const ledBy = new Map<NodeId, number[]>([...counts.keys()].map((id) => [id, []]));
  leaders.forEach((leader, index) => ledBy.get(leader)!.push(index));
  const sources = [...counts.keys()].sort((a, b) => counts.get(b)! - counts.get(a)! || a - b);
  for (const source of sources) {
    // via.get(node) is the group whose leadership would pass to `node` on the way from source.
    const via = new Map<NodeId, number>();
    const queue: NodeId[] = [source];
    const seen = new Set<NodeId>([source]);
    for (let head = 0; head < queue.length; head++) {
      for (const group of ledBy.get(queue[head]!)!) {
        for (const next of replicaSets[group]!) {
          if (seen.has(next)) continue;
          seen.add(next);
          via.set(next, group);
          if (counts.get(next)! <= counts.get(source)! - 2) {
            applyShift(next, source, via, leaders, counts);
            return true;
          }
          queue.push(next);
        }
      }
    }
  }
  return false;
}

/** applyShift walks back from `target` to `source`, handing each group to the next node. */
function applyShift(
  target: NodeId,
  source: NodeId,
  via: Map<NodeId, number>,
  leaders: NodeId[],
  counts: Map<NodeId, number>,
): void {
  let node = target;
  while (node !== source) {
    const group = via.get(node)!;
    const previous = leaders[group]!;
    leaders[group] = node;
    node = previous;
  }
  counts.set(target, counts.get(target)! + 1);
  counts.set(source, counts.get(source)! - 1);
}

/** replicaCounts returns how many replicas each node holds; nodes holding none are included. */
export function replicaCounts(
  placed: Placement,
  nodeIds: readonly NodeId[] = [],
): Map<NodeId, number> {
  const counts = new Map<NodeId, number>(nodeIds.map((id) => [id, 0]));
  for (const replicas of placed.values()) {
    for (const node of replicas) counts.set(node, (counts.get(node) ?? 0) + 1);
  }
  return counts;
}

/** preferredLeaderCounts returns how many groups prefer each node as leader. */
export function preferredLeaderCounts(
  placed: Placement,
  nodeIds: readonly NodeId[] = [],
): Map<NodeId, number> {
  const counts = new Map<NodeId, number>(nodeIds.map((id) => [id, 0]));
  for (const replicas of placed.values()) {
    const leader = replicas[0]!;
    counts.set(leader, (counts.get(leader) ?? 0) + 1);
  }
  return counts;
}

/** ReplicaMove lists, for one group, the nodes that gain a replica and those that lose one. */
export interface ReplicaMove {
  groupId: GroupId;
  added: NodeId[];
  removed: NodeId[];
}

/**
 * diffPlacement lists the replica moves that turn `before` into `after`, by group id; groups
 * whose replica set is unchanged (even if their preferred leader changed) are left out.
 * The elastic cluster turns each move into learner -> catch up -> promote -> remove.
 */
export function diffPlacement(before: Placement, after: Placement): ReplicaMove[] {
  const moves: ReplicaMove[] = [];
  const groupIds = new Set<GroupId>([...before.keys(), ...after.keys()]);
  for (const groupId of [...groupIds].sort((a, b) => a - b)) {
    const old = before.get(groupId) ?? [];
    const now = after.get(groupId) ?? [];
    const added = now.filter((node) => !old.includes(node));
    const removed = old.filter((node) => !now.includes(node));
    if (added.length > 0 || removed.length > 0) moves.push({ groupId, added, removed });
  }
  return moves;
}
