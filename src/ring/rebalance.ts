/**
 * Rebalancing of group replicas when the eligible nodes change (a node joins, drains or
 * fails). Unlike `placement`, which recomputes every group from the hash ring, this starts
 * from the current targets and moves as few replicas as it can:
 *
 * 1. replicas on nodes that are no longer eligible are replaced, preferring nodes below their
 *    share of replicas, then the group's consistent-hashing ("ideal") nodes;
 * 2. while the most loaded node holds 2 or more replicas above the least loaded, one replica
 *    moves from the first to the second; the group is picked by consistent hashing, and a
 *    replica added in step 1 is moved before one that is already in place (that costs no
 *    extra move);
 * 3. preferred leaders stay where they are when still members, then leadership is evened out
 *    along chains of groups, as `placement` does.
 *
 * Replica counts end within one of each other; preferred-leader counts are as even as the
 * replica sets allow. The result depends only on the arguments, not on the order of
 * `eligible`, so every node computes the same targets.
 */
import assert from 'node:assert/strict';
import type { GroupId, NodeId } from '../raft/index.js';
import { RingConfigError } from './errors.js';
import {
  GROUP_COUNT_MAX,
  checkGroupCount,
  checkNodeIds,
  checkReplicationFactor,
} from './limits.js';
import { placement, type Placement } from './placement.js';

/** Assignment is the working state of one rebalance; group `id` is at index `id - 1`. */
interface Assignment {
  /** nodeIds are the eligible nodes in ascending order. */
  readonly nodeIds: readonly NodeId[];
  /** members lists each group's chosen nodes; invariant: distinct and eligible. */
  readonly members: NodeId[][];
  /** original holds each group's current replicas, eligible or not. */
  readonly original: readonly ReadonlySet<NodeId>[];
  /** ideal lists each group's consistent-hashing replicas on the eligible nodes. */
  readonly ideal: readonly (readonly NodeId[])[];
  /** counts maps every eligible node to its replica count; invariant: tallies `members`. */
  readonly counts: Map<NodeId, number>;
}

/**
 * rebalanceTargets maps each group id 1..groupCount to its target replicas, preferred leader
 * first. `current` holds the current targets of groups 1..groupCount (lists may name nodes
 * that are no longer eligible); `eligible` are the nodes that may hold replicas. Every group
 * gets `replicationFactor` distinct eligible nodes; replicas on eligible nodes stay unless
 * balance needs them to move. Throws RingConfigError for fewer eligible nodes than the
 * replication factor, bad node ids, or `current` not covering exactly groups 1..groupCount.
 */
export function rebalanceTargets(
  current: ReadonlyMap<GroupId, readonly NodeId[]>,
  eligible: readonly NodeId[],
  replicationFactor: number,
): Placement {
  checkRebalanceInput(current, eligible, replicationFactor);
  const nodeIds = [...eligible].sort((a, b) => a - b);
  const ideal = placement(current.size, nodeIds, replicationFactor);
  const assignment = startAssignment(current, nodeIds, ideal);
  trimExcessReplicas(assignment, replicationFactor);
  fillMissingReplicas(assignment, replicationFactor);
  balanceReplicas(assignment);
  const leaders = chooseLeaders(assignment, current);
  const result: Placement = new Map();
  assignment.members.forEach((members, index) => {
    const leader = leaders[index]!;
    assert.equal(members.length, replicationFactor, `group ${index + 1}: ${members}`);
    result.set((index + 1) as GroupId, [leader, ...members.filter((node) => node !== leader)]);
  });
  return result;
}

/**
 * countMoves returns the number of (group, node) pairs in `after` but not in `before`: each
 * is a replica to copy (learner, catch up, promote). Leadership changes are not moves.
 */
export function countMoves(
  before: ReadonlyMap<GroupId, readonly NodeId[]>,
  after: ReadonlyMap<GroupId, readonly NodeId[]>,
): number {
  let moves = 0;
  for (const [groupId, replicas] of after) {
    const old = before.get(groupId) ?? [];
    moves += new Set(replicas.filter((node) => !old.includes(node))).size;
  }
  return moves;
}

/** checkRebalanceInput throws RingConfigError naming the first bad argument. */
function checkRebalanceInput(
  current: ReadonlyMap<GroupId, readonly NodeId[]>,
  eligible: readonly NodeId[],
  replicationFactor: number,
): void {
  checkReplicationFactor(replicationFactor, Number.POSITIVE_INFINITY);
  if (eligible.length < replicationFactor) {
    throw new RingConfigError(
      `replication factor ${replicationFactor} needs at least ${replicationFactor} eligible ` +
        `nodes, got ${eligible.length}`,
    );
  }
  checkNodeIds(eligible);
  checkGroupCount(current.size);
  for (let group = 1; group <= current.size; group++) {
    if (!current.has(group as GroupId)) {
      throw new RingConfigError(
        `current targets must cover groups 1..${current.size}, group ${group} is missing`,
      );
    }
  }
}

/** startAssignment keeps each group's current replicas on eligible nodes, in current order. */
function startAssignment(
  current: ReadonlyMap<GroupId, readonly NodeId[]>,
  nodeIds: readonly NodeId[],
  ideal: Placement,
): Assignment {
  const counts = new Map<NodeId, number>(nodeIds.map((id) => [id, 0]));
  const members: NodeId[][] = [];
  const original: Set<NodeId>[] = [];
  const idealLists: NodeId[][] = [];
  for (let group = 1; group <= current.size; group++) {
    const replicas = new Set(current.get(group as GroupId)!);
    const kept = [...replicas].filter((node) => counts.has(node));
    for (const node of kept) counts.set(node, counts.get(node)! + 1);
    members.push(kept);
    original.push(replicas);
    idealLists.push(ideal.get(group as GroupId)!);
  }
  return { nodeIds, members, original, ideal: idealLists, counts };
}

/**
 * trimExcessReplicas drops replicas of groups above the replication factor (it was lowered):
 * from the most loaded node first, then from nodes outside the group's ideal set.
 */
function trimExcessReplicas(assignment: Assignment, replicationFactor: number): void {
  const { members, ideal, counts } = assignment;
  members.forEach((nodes, index) => {
    while (nodes.length > replicationFactor) {
      const rank = (node: NodeId): number[] => [
        -counts.get(node)!,
        ideal[index]!.includes(node) ? 1 : 0,
        node,
      ];
      const dropped = nodes.reduce((best, node) =>
        compareRanks(rank(node), rank(best)) < 0 ? node : best,
      );
      nodes.splice(nodes.indexOf(dropped), 1);
      counts.set(dropped, counts.get(dropped)! - 1);
    }
  });
}

/**
 * fillMissingReplicas adds nodes to groups below the replication factor: a node below its
 * share (the even count rounded up) first, then one of the group's ideal nodes, then the
 * least loaded, then the lowest id. Balancing may move these again at no extra cost.
 */
function fillMissingReplicas(assignment: Assignment, replicationFactor: number): void {
  const { nodeIds, members, ideal, counts } = assignment;
  const shareMax = Math.ceil((members.length * replicationFactor) / nodeIds.length);
  members.forEach((nodes, index) => {
    while (nodes.length < replicationFactor) {
      let best: NodeId | undefined;
      let bestRank: number[] = [];
      for (const node of nodeIds) {
        if (nodes.includes(node)) continue;
        const count = counts.get(node)!;
        const rank = [count >= shareMax ? 1 : 0, ideal[index]!.includes(node) ? 0 : 1, count];
        if (best === undefined || compareRanks(rank, bestRank) < 0) [best, bestRank] = [node, rank];
      }
      assert.ok(best !== undefined, `group ${index + 1} has no eligible node left to add`);
      nodes.push(best);
      counts.set(best, counts.get(best)! + 1);
    }
  });
}

/**
 * Holders indexes the balancing state by node: the groups each node is in, and how many of
 * them it was added to by this rebalance (moving one of those again costs no extra move).
 */
interface Holders {
  /** groupsOf maps each eligible node to the indexes of the groups it is a member of. */
  readonly groupsOf: Map<NodeId, Set<number>>;
  /** addedCounts maps each eligible node to its memberships not in the current targets. */
  readonly addedCounts: Map<NodeId, number>;
}

/** ReplicaShift is one replica of group `index + 1` moving from its giver to `receiver`. */
interface ReplicaShift {
  index: number;
  receiver: NodeId;
  /** rank orders shifts, lowest first: (added moves + 1) * 4 + ideal tier, then group index. */
  rank: number;
}

/**
 * balanceReplicas moves one replica at a time from a most loaded node to a least loaded one
 * until counts differ by at most one. A move is always possible: a node with more replicas
 * than another is in some group the other is not in. The giver is a most loaded node holding
 * a replica added by this rebalance if there is one, else the lowest id.
 */
function balanceReplicas(assignment: Assignment): void {
  const { nodeIds, members, original, counts } = assignment;
  const holders = indexHolders(assignment);
  // Each move lowers the sum of squared counts by at least 2, so this bound is never reached.
  const squares = [...counts.values()].reduce((sum, count) => sum + count * count, 0);
  for (let moves = 0; moves <= squares / 2; moves++) {
    const countMin = Math.min(...counts.values());
    const countMax = Math.max(...counts.values());
    if (countMax - countMin <= 1) return;
    const givers = nodeIds.filter((node) => counts.get(node) === countMax);
    const giver = givers.find((node) => holders.addedCounts.get(node)! > 0) ?? givers[0]!;
    const receivers = nodeIds.filter((node) => counts.get(node) === countMin);
    const shift = chooseReplicaShift(assignment, holders, giver, receivers);
    assert.ok(shift, `node ${giver} (${countMax}) is in no group without a node at ${countMin}`);
    const nodes = members[shift.index]!;
    nodes[nodes.indexOf(giver)] = shift.receiver;
    counts.set(giver, countMax - 1);
    counts.set(shift.receiver, countMin + 1);
    holders.groupsOf.get(giver)!.delete(shift.index);
    holders.groupsOf.get(shift.receiver)!.add(shift.index);
    const added = holders.addedCounts;
    if (!original[shift.index]!.has(giver)) added.set(giver, added.get(giver)! - 1);
    if (!original[shift.index]!.has(shift.receiver)) {
      added.set(shift.receiver, added.get(shift.receiver)! + 1);
    }
  }
  assert.fail('replica balancing did not converge');
}

/** indexHolders builds the per-node index of `assignment`'s memberships. */
function indexHolders(assignment: Assignment): Holders {
  const { nodeIds, members, original } = assignment;
  const groupsOf = new Map<NodeId, Set<number>>(nodeIds.map((id) => [id, new Set()]));
  const addedCounts = new Map<NodeId, number>(nodeIds.map((id) => [id, 0]));
  members.forEach((nodes, index) => {
    for (const node of nodes) {
      groupsOf.get(node)!.add(index);
      if (!original[index]!.has(node)) addedCounts.set(node, addedCounts.get(node)! + 1);
    }
  });
  return { groupsOf, addedCounts };
}

/** RANK_GROUP_SPAN exceeds every group index, so a group index fits below one rank step. */
const RANK_GROUP_SPAN = GROUP_COUNT_MAX + 1;

/**
 * chooseReplicaShift picks, among the groups of `giver`, the move to one of `receivers` of
 * lowest rank: first by the moves it adds (0 when the giver was added by this rebalance),
 * then by consistent hashing (the group's ideal set has the receiver and not the giver, has
 * both, has neither, has only the giver), then by group id and receiver id.
 */
function chooseReplicaShift(
  assignment: Assignment,
  holders: Holders,
  giver: NodeId,
  receivers: readonly NodeId[],
): ReplicaShift | undefined {
  const { members, original, ideal } = assignment;
  let best: ReplicaShift | undefined;
  for (const index of holders.groupsOf.get(giver)!) {
    const nodes = members[index]!;
    const idealNodes = ideal[index]!;
    const giverCost = original[index]!.has(giver) ? 1 : 0;
    const giverTier = idealNodes.includes(giver) ? 1 : 0;
    for (const receiver of receivers) {
      if (nodes.includes(receiver)) continue;
      const cost = giverCost - (original[index]!.has(receiver) ? 1 : 0);
      const tier = (idealNodes.includes(receiver) ? 0 : 2) + giverTier;
      // A number, not a tuple: this loop runs once per (move, group, receiver). Receivers
      // ascend, so a strict comparison keeps the lowest id on ties.
      const rank = ((cost + 1) * 4 + tier) * RANK_GROUP_SPAN + index;
      if (best === undefined || rank < best.rank) best = { index, receiver, rank };
    }
  }
  return best;
}

/**
 * chooseLeaders picks each group's preferred leader: its current first replica when still a
 * member, else the member leading fewest groups so far (the ideal leader, then the lowest id,
 * on ties); then it shifts leaderships along chains until no better balance exists.
 */
function chooseLeaders(
  assignment: Assignment,
  current: ReadonlyMap<GroupId, readonly NodeId[]>,
): NodeId[] {
  const { nodeIds, members, ideal } = assignment;
  const counts = new Map<NodeId, number>(nodeIds.map((id) => [id, 0]));
  const kept = members.map((nodes, index) => {
    const first = current.get((index + 1) as GroupId)![0];
    return first !== undefined && nodes.includes(first) ? first : undefined;
  });
  for (const leader of kept) if (leader !== undefined) counts.set(leader, counts.get(leader)! + 1);
  const leaders = members.map((nodes, index) => {
    if (kept[index] !== undefined) return kept[index];
    const rank = (node: NodeId): number[] => [
      counts.get(node)!,
      node === ideal[index]![0] ? 0 : 1,
      node,
    ];
    const leader = nodes.reduce((best, node) =>
      compareRanks(rank(node), rank(best)) < 0 ? node : best,
    );
    counts.set(leader, counts.get(leader)! + 1);
    return leader;
  });
  // Each shift lowers the sum of squared counts by at least 2, so this bound is never reached.
  const squares = [...counts.values()].reduce((sum, count) => sum + count * count, 0);
  for (let shifts = 0; shifts <= squares / 2; shifts++) {
    if (!shiftLeadership(members, leaders, kept, counts)) return leaders;
  }
  assert.fail('leader balancing did not converge');
}

/**
 * shiftLeadership finds, by breadth-first search from the nodes leading most groups, a chain
 * source -> ... -> target where each link is a group led by one node with the next among its
 * members, and the target leads at least 2 fewer groups than the source; it passes
 * leadership one link along the chain. Groups whose leader was newly chosen are searched
 * before groups keeping their current leader, to change current leaders less. Returns false if
 * there is no such chain: then no better balance exists (a semi-matching has no cost-reducing
 * path, Harvey et al.).
 */
function shiftLeadership(
  members: readonly NodeId[][],
  leaders: NodeId[],
  kept: readonly (NodeId | undefined)[],
  counts: Map<NodeId, number>,
): boolean {
  const ledBy = new Map<NodeId, number[]>([...counts.keys()].map((id) => [id, []]));
  leaders.forEach((leader, index) => {
    if (kept[index] !== leader) ledBy.get(leader)!.push(index);
  });
  leaders.forEach((leader, index) => {
    if (kept[index] === leader) ledBy.get(leader)!.push(index);
  });
  const sources = [...counts.keys()].sort((a, b) => counts.get(b)! - counts.get(a)! || a - b);
  for (const source of sources) {
    // via.get(node) is the group whose leadership passes to `node` on the chain from source.
    const via = new Map<NodeId, number>();
    const queue: NodeId[] = [source];
    const seen = new Set<NodeId>([source]);
    for (let head = 0; head < queue.length; head++) {
      for (const index of ledBy.get(queue[head]!)!) {
        for (const next of members[index]!) {
          if (seen.has(next)) continue;
          seen.add(next);
          via.set(next, index);
          if (counts.get(next)! <= counts.get(source)! - 2) {
            passAlongChain(next, source, via, leaders, counts);
            return true;
          }
          queue.push(next);
        }
      }
    }
  }
  return false;
}

/** passAlongChain walks back from `target` to `source`, handing each group to the next node. */
function passAlongChain(
  target: NodeId,
  source: NodeId,
  via: ReadonlyMap<NodeId, number>,
  leaders: NodeId[],
  counts: Map<NodeId, number>,
): void {
  let node = target;
  for (let links = 0; node !== source; links++) {
    assert.ok(links <= via.size, `chain from ${source} to ${target} is longer than ${via.size}`);
    const index = via.get(node)!;
    const previous = leaders[index]!;
    leaders[index] = node;
    node = previous;
  }
  counts.set(target, counts.get(target)! + 1);
  counts.set(source, counts.get(source)! - 1);
}

/** compareRanks orders equal-length number tuples lexicographically. */
function compareRanks(a: readonly number[], b: readonly number[]): number {
  for (let position = 0; position < a.length; position++) {
    if (a[position] !== b[position]) return a[position]! - b[position]!;
  }
  return 0;
}
